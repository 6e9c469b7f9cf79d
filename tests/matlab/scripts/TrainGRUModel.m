%-------------------------------------------------------------------
% Pattern: a training function file from public quality-prediction code: the data are the function's inputs
% (given with --data), the layers a local variable (--variable layers), the output the trained network.
% Dense front end, two GRUs ('sequence' then 'last'), a regression head.
%-------------------------------------------------------------------
function model = TrainGRUModel(XTrain, YTrain)

    numFeatures = size(XTrain{1},1);
    layers = [ sequenceInputLayer(numFeatures)
               fullyConnectedLayer(256)
               dropoutLayer(0.25)
               reluLayer
               gruLayer(64,'OutputMode','sequence')
               gruLayer(32,'OutputMode','last')
               fullyConnectedLayer(size(YTrain,2))
               regressionLayer ];

    options = trainingOptions('adam', ...
        'MaxEpochs',5, ...
        'MiniBatchSize',16, ...
        'Shuffle','every-epoch', ...
        'Verbose',false);

    model = trainNetwork(XTrain,YTrain,layers,options);
end
