function [net] = trainLstm_glove(features, labels)
%% Long short-term memory network training sequence
% Pattern: a wearable-sensor training function on public GitHub: the sequences and labels are the inputs,
% sorted by length in a loop that grows sequenceLengths(i), a random validation subset taken with
% randperm(n, 20), commented-out experiments left between the layers, sizes from the data; the output
% is the trained network, so the build takes the layer array the function assigns.

x = features;
y = labels;
%yVector = ind2vec(y);
yCategories = categorical(y);

% Sort the data by length
numObservations = numel(x);
for i = 1:numObservations
    CELL_SEQUENCE = x{i,1};
    m = size(CELL_SEQUENCE, 2);
    sequenceLengths(i) = m;
end

[sequenceLengths,idx] = sort(sequenceLengths);
x = x(idx);
yCategories = yCategories(idx);

ii = randperm(size(x,1), 20);
xValidation = x(ii);
yValidation = yCategories(ii);

%% Signal plotting
% figure
% plot(x{1}')
% legend("Feature " + string(1:numFeatures), 'Location', 'northeastoutside')

%% LSTM network options
maxEpochs = 100;
miniBatchSize = 17; % Total iteration count = maxEpochs * miniBatchSize

options = trainingOptions('adam', ...
    'ExecutionEnvironment','auto', ...
    'GradientThreshold',1, ...
    'MaxEpochs',maxEpochs, ...
    'MiniBatchSize',miniBatchSize, ...
    'SequenceLength','longest', ...
    'Shuffle','every-epoch', ...
    'Verbose',1, ...
    'ValidationData',{xValidation, yValidation}, ...
    'ValidationFrequency', 30, ...
    'Plots','training-progress'); % LSTM network training options

numFeatures = size(x{1}, 1);                   % The number of input nodes
%numHiddenUnits1 = 125;                        % The number of layer 1 nodes
numHiddenUnits2 = 100;                         % The number of layer 2 nodes
numClasses = numel(categories(yCategories));   % The number of output nodes
layers = [ ...
    sequenceInputLayer(numFeatures)
    %lstmLayer(numHiddenUnits1,'OutputMode','sequence')
    %dropoutLayer(0.2)
    bilstmLayer(numHiddenUnits2,'OutputMode','last')
    %dropoutLayer(0.2)
    fullyConnectedLayer(numClasses)
    softmaxLayer
    classificationLayer];

net = trainNetwork(x, yCategories, layers, options);
end
