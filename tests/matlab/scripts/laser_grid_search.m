% Pattern: course-exercise scripts on public GitHub (Santa Fe laser series, "inspired by the MathWorks
% forecasting example"): ASCII data loaded with x = load('Data/file.dat'), transposed to a row, standardised
% with (x - mu)/sigma, a results CSV written with writecell, and the layer array rebuilt in a grid-search
% loop over hidden sizes; the array left after the loop (the last size) is the one built.
clear
clc
close all

%% Preamble: preprocessing data
filename = 'Data/LSTM_results.csv';
header = {'Hidden', 'Lag', 'Test MSE'};
writecell(header, filename);

% Load the datasets
train_data = load('Data/lasertrain.dat');
test_data = load('Data/laserpred.dat');

% We transpose the data, such that it has the same shape as the example
train_data = train_data';
test_data = test_data';

% Normalize data
mu     = mean(train_data);
sigma  = std(train_data);
dataTrainStandardized = (train_data - mu)/sigma;
dataTestStandardized = (test_data  - mu)/sigma;

% Train on the first 90%, validate on the rest
numTimeStepsTrain = floor(0.9*numel(dataTrainStandardized));
XTrain = dataTrainStandardized(1:numTimeStepsTrain);
YTrain = dataTrainStandardized(2:numTimeStepsTrain+1);
XVal = dataTrainStandardized(numTimeStepsTrain+1:end-1);

%% Gridsearch over the hidden size
numFeatures = size(XTrain, 1);
numResponses = 1;
hiddenSizes = [25 50 100];
results = zeros(numel(hiddenSizes), 3);
for h = 1:numel(hiddenSizes)
    numHiddenUnits = hiddenSizes(h);
    layers = [ ...
        sequenceInputLayer(numFeatures)
        lstmLayer(numHiddenUnits)     % one recurrent layer
        fullyConnectedLayer(numResponses)
        regressionLayer];

    options = trainingOptions('adam', ...
        'MaxEpochs',250, ...
        'GradientThreshold',1, ...
        'InitialLearnRate',0.005, ...
        'LearnRateSchedule','piecewise', ...
        'LearnRateDropPeriod',125, ...
        'LearnRateDropFactor',0.2, ...
        'Verbose',0);
    tic
    net = trainNetwork(XTrain,YTrain,layers,options);
    toc

    net = predictAndUpdateState(net,XTrain);
    [net,YPred] = predictAndUpdateState(net,YTrain(end));
    numTimeStepsVal = numel(XVal);
    for i = 2:numTimeStepsVal
        [net,YPred(:,i)] = predictAndUpdateState(net,YPred(:,i-1),'ExecutionEnvironment','cpu');
    end
    net = resetState(net);
    rmse = sqrt(mean((YPred - XVal).^2));
    results(h, :) = [numHiddenUnits, 1, rmse];
    fprintf('hidden %d: RMSE %.4f\n', numHiddenUnits, rmse);
end
writematrix(results, filename, 'WriteMode', 'append');

figure
plot(results(:,1), results(:,3), '-o')
xlabel('Hidden units')
ylabel('RMSE')
