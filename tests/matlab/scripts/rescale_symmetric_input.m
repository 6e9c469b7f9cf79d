% Pattern: sequence-to-sequence regression scripts with Normalization="rescale-symmetric" and per-channel
% Min/Max taken from the training data (min/max over [XTrain{:}] along dimension 2), written with Name=value.
load("signals.mat")   % XTrain, YTrain: cells of C-by-T and R-by-T

XAll = [XTrain{:}];
xMin = min(XAll, [], 2);
xMax = max(XAll, [], 2);
numFeatures = height(XAll);
numResponses = height(YTrain{1});

layers = [
    sequenceInputLayer(numFeatures, Normalization="rescale-symmetric", Min=xMin, Max=xMax)
    bilstmLayer(96)
    fullyConnectedLayer(numResponses)
    regressionLayer];

options = trainingOptions("adam", MaxEpochs=40, Shuffle="every-epoch", Plots="training-progress");
net = trainNetwork(XTrain, YTrain, layers, options);
