% Pattern: load-forecasting scripts from public repositories and MATLAB Answers threads: a CSV read with
% readtable, the numeric columns taken with table2array, min-max scaling written out by hand, lagged
% windows built in a for-loop into a feature matrix, then con2seq/num2cell to make one-step sequences,
% and the input size from the window matrix. Prediction with 'MiniBatchSize',1 and a saved network.
clc; clear; close all;

%% Data
T = readtable('load_data.csv');
values = table2array(T(:, 2:end));
target = values(:, 1);

xmin = min(values); xmax = max(values);
valuesN = (values - xmin) ./ (xmax - xmin);

numLags = 24;
numObs = size(valuesN, 1) - numLags;
X = zeros(numObs, numLags * size(valuesN, 2));
Y = zeros(numObs, 1);
for k = 1:numObs
    window = valuesN(k:k+numLags-1, :);
    X(k, :) = reshape(window, 1, []);
    Y(k) = valuesN(k+numLags, 1);
end

idx = floor(0.8 * numObs);
XTrain = con2seq(X(1:idx, :)');
YTrain = num2cell(Y(1:idx)');
XTest = con2seq(X(idx+1:end, :)');
YTest = Y(idx+1:end);

%% Network
inputSize = size(XTrain{1}, 1);
numResponses = 1;
numHiddenUnits = 128;

layers = [ ...
    sequenceInputLayer(inputSize, 'Name', 'input')
    % first recurrent block
    lstmLayer(numHiddenUnits, 'OutputMode', 'sequence', 'Name', 'lstm1')
    dropoutLayer(0.2, 'Name', 'drop1')
    % second recurrent block
    gruLayer(numHiddenUnits / 2, 'OutputMode', 'last', 'Name', 'gru2')
    fullyConnectedLayer(numResponses, 'Name', 'fc')
    regressionLayer('Name', 'out')];

options = trainingOptions('adam', 'MaxEpochs', 50, 'MiniBatchSize', 64, 'GradientThreshold', 1, ...
    'Plots', 'training-progress', 'Verbose', false);
tic
net = trainNetwork(XTrain, cell2mat(YTrain)', layers, options);
toc
save('lstm_load_net.mat', 'net');

%% Test
YPred = predict(net, XTest, 'MiniBatchSize', 1);
YPred = YPred * (xmax(1) - xmin(1)) + xmin(1);
YTest = YTest * (xmax(1) - xmin(1)) + xmin(1);
rmse = sqrt(mean((YPred - YTest).^2));
disp(['RMSE = ', num2str(rmse)]);
figure; hold on
plot(YTest); plot(YPred, '--');
legend('Observed', 'Forecast'); xlabel('Hour'); ylabel('Load');
