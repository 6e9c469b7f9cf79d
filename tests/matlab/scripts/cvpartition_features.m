% Pattern: scripts that start from a feature matrix (observations in rows, readmatrix or a .mat), split it with
% cvpartition(labels,'HoldOut',p), and turn each row into a one-step sequence (a column) before an LSTM.
load features.mat            % features: N-by-F numeric, labels: N-by-1 cellstr
c = cvpartition(labels, 'HoldOut', 0.3);
idxTrain = training(c);
idxTest = test(c);

XTrainMat = features(idxTrain, :);
YTrain = categorical(labels(idxTrain));
XTestMat = features(idxTest, :);
YTest = categorical(labels(idxTest));

XTrain = num2cell(XTrainMat', 1)';
XTest = num2cell(XTestMat', 1)';

[~, numFeatures] = size(XTrainMat);
numClasses = numel(categories(YTrain));

layers = [sequenceInputLayer(numFeatures)
          lstmLayer(40, 'OutputMode', 'last')
          fullyConnectedLayer(numClasses)
          softmaxLayer
          classificationLayer];
options = trainingOptions('adam', 'MaxEpochs', 25, 'Verbose', false);
net = trainNetwork(XTrain, YTrain, layers, options);
