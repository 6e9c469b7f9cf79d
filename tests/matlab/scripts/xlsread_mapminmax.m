% Pattern: forecasting scripts common in public repositories: a spreadsheet read with xlsread (columns:
% inputs, last column the target), rows scaled to [0, 1] with mapminmax, a 70/30 split by index, one long
% sequence per set, sizes from the scaled matrices.
clc; clear all; close all;
%% load data
data = xlsread('dataset.xlsx');
X = data(:, 1:end-1)';
Y = data(:, end)';

%% normalise
[Xn, psX] = mapminmax(X, 0, 1);
[Yn, psY] = mapminmax(Y, 0, 1);

numTrain = round(0.7 * size(X, 2));
XTrain = Xn(:, 1:numTrain);
YTrain = Yn(:, 1:numTrain);
XTest  = Xn(:, numTrain+1:end);
YTest  = Y(:, numTrain+1:end);

%% network
inputSize = size(XTrain, 1);
numHiddenUnits = 64;
outputSize = size(YTrain, 1);

layers = [ ...
    sequenceInputLayer(inputSize)
    lstmLayer(numHiddenUnits)
    dropoutLayer(0.1)
    lstmLayer(numHiddenUnits/2)
    fullyConnectedLayer(outputSize)
    regressionLayer];

options = trainingOptions('adam', 'MaxEpochs', 300, 'InitialLearnRate', 0.005, ...
    'LearnRateSchedule', 'piecewise', 'LearnRateDropPeriod', 100, 'LearnRateDropFactor', 0.5, ...
    'Verbose', 0, 'Plots', 'training-progress');
net = trainNetwork(XTrain, YTrain, layers, options);

YPred = predict(net, XTest);
YPred = mapminmax('reverse', YPred, psY);
rmse = sqrt(mean((YPred - YTest).^2));
fprintf('RMSE: %.4f\n', rmse);
