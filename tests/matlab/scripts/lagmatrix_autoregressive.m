%% Pattern: autoregressive templates shared on public repositories ("you can follow this template and
%  create your own architecture"): lagged inputs from lagmatrix, the rows with NaN lags dropped with
%  max(Lag)+1:end, each observation copied into a cell in a loop (XrTrain{i,1} = XTrain(:,i)), data
%  loaded with a wildcard list of names, the input size from the lag count.
clear; close all; clc
load(fullfile('data', 'series.mat'), 'y*')   % y_train, y_test
Lag = 1:8;

% Training data
XTrain = lagmatrix(y_train, Lag); % <------ AUTOREGRESSIVE
XTrain = XTrain(max(Lag)+1:end, :)';
YTrain = y_train(max(Lag)+1:end, :)';
XrTrain = cell(size(XTrain, 2), 1);
YrTrain = zeros(size(YTrain, 2), size(YTrain, 1));
for i = 1:size(XTrain, 2)
    XrTrain{i, 1} = XTrain(:, i);
    YrTrain(i, :) = YTrain(:, i);
end

%% NETWORK ARCHITECTURE ===================================================
numFeatures = size(XTrain, 1);   % it depends on the roll-back window
numResponses = size(y_train, 2);
layers = [...
    % Here input the sequence. No need to be modified
    sequenceInputLayer(numFeatures, 'Name', 'input')
    % from here do your engineering design
    bilstmLayer(64, 'OutputMode', 'last', 'Name', 'bilstm')
    dropoutLayer(0.25, 'Name', 'drop')
    fullyConnectedLayer(numResponses, 'Name', 'fc')
    regressionLayer('Name', 'output')];

%% TRAINING
if gpuDeviceCount > 0
    mydevice = 'gpu';
else
    mydevice = 'cpu';
end
options = trainingOptions('adam', 'MaxEpochs', 100, 'GradientThreshold', 1, 'ExecutionEnvironment', mydevice, ...
    'Plots', 'training-progress');
net = trainNetwork(XrTrain, YrTrain, layers, options);
