function LSTM_results = fcn_trainLSTM(XTrain, YTrain, TrialIND, netVar)
% Pattern: research-code training functions on public GitHub: one function file whose inputs are the data
% matrices (time steps in rows) and a struct of network settings; the sizes come from size(XTrain, 2), the
% split index from floor(0.8 * N), and the hidden part of the array from a local function called inside
% the brackets, which stacks netVar.NL recurrent layers of netVar.NV units.

S = segment_data(TrialIND, 0.8, 0);

InputSize  = size(XTrain,2);
OutputSize = size(YTrain,2);
N          = size(YTrain,1);
tN         = floor(N * 0.8);
layers     = [ sequenceInputLayer(InputSize)
               makeLayers(netVar.NV, netVar.NL)
               fullyConnectedLayer(OutputSize)
               regressionLayer];

XValidation = XTrain(tN+1:end, :)';
YValidation = YTrain(tN+1:end, :)';

options = trainingOptions('adam', ...
    'MaxEpochs', netVar.epochs, ...
    'MiniBatchSize', 1, ...
    'ValidationData', {XValidation, YValidation}, ...
    'Shuffle', 'never', ...
    'Verbose', 0);

net = trainNetwork(XTrain(1:tN, :)', YTrain(1:tN, :)', layers, options);
YPred = predict(net, XValidation, 'MiniBatchSize', 1);
LSTM_results.rmse = sqrt(mean((YPred - YValidation).^2, 2));
LSTM_results.net = net;
LSTM_results.layers = layers;
end

function layers = makeLayers(numUnits, numLayers)
% numLayers LSTM layers of numUnits units, each followed by dropout
layers = [];
for k = 1:numLayers
    layers = [layers
              lstmLayer(numUnits, 'Name', sprintf('lstm_%d', k))
              dropoutLayer(0.2, 'Name', ['drop_' num2str(k)])]; %#ok<AGROW>
end
end
