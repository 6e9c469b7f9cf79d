%% Pattern: decomposition-then-forecast scripts on public GitHub (EMD/VMD + LSTM): a spreadsheet column
%  split into components by a toolbox call, a local function cutting lagged windows, and one network
%  trained per component inside "for i = 1:c" -- the layer array is written inside the loop, and the
%  loop count comes from the decomposition.
clc; clear;
pre_result = [];
true_result = [];
data = xlsread('data.xlsx', 'E2:E721');
imf = emd(data)';                 % components in rows
c = size(imf, 1);
[x, y] = data_process(data, 12);  % the previous 12 steps predict the next one
n = size(x, 1);
m = round(n * 0.7);
YTest_final = y(m+1:end, :)';

%% Model each component
for i = 1:c
    disp(['Model the ', num2str(i), ' component'])
    [x, y] = data_process(imf(i, :), 12);
    [xs, mappingx] = mapminmax(x', 0, 1); x = xs';
    [ys, mappingy] = mapminmax(y', 0, 1); y = ys';
    n = size(x, 1);
    m = round(n * 0.7);   % first 70% to train
    XTrain = x(1:m, :)';
    XTest = x(m+1:end, :)';
    YTrain = y(1:m, :)';

    numFeatures = size(XTrain, 1);
    numResponses = 1;
    numHiddenUnits1 = 200;
    layers = [ ...
        sequenceInputLayer(numFeatures)

        lstmLayer(numHiddenUnits1)
     %   lstmLayer(numHiddenUnits2)
        fullyConnectedLayer(numResponses)
        regressionLayer];
    options = trainingOptions('adam', 'MaxEpochs', 200, 'GradientThreshold', 1, 'InitialLearnRate', 0.005, ...
        'LearnRateSchedule', 'piecewise', 'LearnRateDropPeriod', 125, 'LearnRateDropFactor', 0.2, 'Verbose', 0);
    net = trainNetwork(XTrain, YTrain, layers, options);
    YPred = predict(net, XTest);
    pre_result = [pre_result; mapminmax('reverse', YPred, mappingy)];
end

function [x, y] = data_process(data, lag)
    % rows of lag consecutive values, each with the value after them
    data = data(:)';
    n = numel(data) - lag;
    x = zeros(n, lag);
    y = zeros(n, 1);
    for k = 1:n
        x(k, :) = data(k:k+lag-1);
        y(k) = data(k+lag);
    end
end
