% Pattern: public LSTM scripts that move the z-score into the network: mu/sig over all time steps of the
% training cell ([XTrain{:}]), given to sequenceInputLayer's Mean/StandardDeviation (R2020b+ options).
load trainData.mat   % XTrain: N-by-1 cell of C-by-T, YTrain: cellstr labels

allSteps = [XTrain{:}];
mu  = mean(allSteps, 2);
sig = std(allSteps, 0, 2);

numFeatures = size(XTrain{1}, 1);
numClasses = numel(categories(categorical(YTrain)));

layers = [
    sequenceInputLayer(numFeatures, 'Normalization', 'zscore', 'Mean', mu, 'StandardDeviation', sig)
    lstmLayer(64, 'OutputMode', 'sequence')
    lstmLayer(32, 'OutputMode', 'last')
    fullyConnectedLayer(numClasses)
    softmaxLayer
    classificationLayer];

options = trainingOptions('adam', 'MaxEpochs', 50, 'Plots', 'none');
net = trainNetwork(XTrain, categorical(YTrain), layers, options);
