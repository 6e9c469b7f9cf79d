% Pattern: MATLAB Answers and GitHub scripts that train only when no saved network exists: the data read
% with readmatrix, rows holding NaN deleted, features standardised by hand, each observation a one-step
% sequence through num2cell, the class count from unique(...) of the last column, and the layer array
% inside "if ~exist('trainedNet.mat', 'file') ... else load ... end".
clear; clc;

data = readmatrix('power_quality.csv');
data(any(isnan(data), 2), :) = [];       % drop incomplete rows
[numObs, numCols] = size(data);
fprintf('%d observations, %d columns\n', numObs, numCols);

[~, numFeatures] = size(data(:, 1:end-1));
XTrain = data(1:floor(0.8*end), 1:end-1);
YTrain = categorical(data(1:floor(0.8*end), end));
mu = mean(XTrain);
sig = std(XTrain);
XTrain = (XTrain - mu) ./ sig;
XTrain = num2cell(XTrain', 1)';           % one time step per observation
numClasses = length(unique(data(:, end)));

if ~exist('trainedNet.mat', 'file')
    layers = [ ...
        sequenceInputLayer(numFeatures, 'Normalization', 'zscore')
        lstmLayer(50, 'OutputMode', 'last')
        fullyConnectedLayer(numClasses)
        softmaxLayer
        classificationLayer];
    options = trainingOptions('adam', ...
        'MaxEpochs', 30, ...
        'GradientThreshold', 1, ...
        'Plots', 'training-progress');
    net = trainNetwork(XTrain, YTrain, layers, options);
    save('trainedNet.mat', 'net');
else
    load trainedNet.mat
end

YPred = classify(net, XTrain);
accuracy = sum(YPred == YTrain) / numel(YTrain)
