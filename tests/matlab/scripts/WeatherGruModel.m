classdef WeatherGruModel
    % Pattern: model wrappers written as classes in public research code (weather and load forecasting
    % repositories): the sizes are properties (some with defaults, the data-dependent ones without), a
    % constructor, and a Create method that writes the layer array from the object's properties, wraps
    % it in a layer graph and stores the training options on the object.

    properties
        x_in                % inputs per time step: from the data
        y_out = 1           % one value forecast
        k_hid1 = 64
        k_hid2 (1,1) double {mustBePositive} = 32
        mb_size = 16
        max_epoch = 200
        lGraph
        options
    end

    methods
        function net = WeatherGruModel()
        end

        function net = Create(net)
            sLayers = [
                sequenceInputLayer(net.x_in)
                gruLayer(net.k_hid1)    %, 'OutputMode','last')
                gruLayer(net.k_hid2, 'OutputMode', 'last')
                fullyConnectedLayer(net.y_out)
                regressionLayer
            ];

            net.lGraph = layerGraph(sLayers);

            net.options = trainingOptions('adam', ...
                'ExecutionEnvironment', 'auto', ...
                'Shuffle', 'every-epoch', ...
                'MiniBatchSize', net.mb_size, ...
                'MaxEpochs', net.max_epoch);
        end

        function net = Train(net, X, Y)
            net.trained = trainNetwork(X, Y, net.lGraph, net.options);
        end
    end
end
