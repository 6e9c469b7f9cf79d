%% Pattern: R2023+ scripts on public GitHub: windows cut by a local function at the end of the script
%  (with a nested helper), the device chosen in try/catch around gpuDevice, the array grown in a loop with
%  string names ("lstm_" + i), layers(end+1) = ..., and trainnet with the "mse" loss.
[XTrain, YTrain] = prepareData(raw, 10);
numResponses = size(YTrain{1}, 1);
numFeatures = size(XTrain{1}, 1);

try
    g = gpuDevice;
    env = 'gpu';
catch
    env = 'cpu';
end

layers = [sequenceInputLayer(numFeatures, "Name", "in")];
for i = 1:2
    layers = [layers; lstmLayer(32 * i, "Name", "lstm_" + i)];
end
layers(end+1) = fullyConnectedLayer(numResponses, 'Name', "fc");

options = trainingOptions("adam", ExecutionEnvironment=env, MaxEpochs=60, Plots="training-progress");
net = trainnet(XTrain, YTrain, layers, "mse", options);
YPred = minibatchpredict(net, XTrain, 'MiniBatchSize', 1, 'UniformOutput', false);
rmse = sqrt(mean((YPred{1} - YTrain{1}).^2, 'all'));
fprintf('RMSE %.3f\n', rmse);

function [X, Y] = prepareData(raw, lag)
    % windows of lag steps, each predicting the step after it
    n = size(raw, 2) - lag;
    X = cell(n, 1);
    Y = cell(n, 1);
    for k = 1:n
        X{k} = scaled(raw(:, k:k+lag-1));
        Y{k} = raw(:, k+lag);
    end

    function z = scaled(v)
        z = v ./ max(abs(raw(:)));
    end
end
