% Pattern: MathWorks "Sequence-to-Sequence Regression Using Deep Learning", R2024 trainnet version: sequences
% time-by-features, constant columns removed with a logical mask over cat(1, XTrain{:}), z-score along
% dimension 1, sorted by length in a loop, responses clipped, mse loss.
filenamePredictors = fullfile(dataFolder,"train_FD001.txt");
[XTrain,TTrain] = processTurboFanDataTrain(filenamePredictors);

XTrainConcatenated = cat(1,XTrain{:});
m = min(XTrainConcatenated,[],1);
M = max(XTrainConcatenated,[],1);
idxConstant = M == m;

for i = 1:numel(XTrain)
    XTrain{i}(:,idxConstant) = [];
end

numFeatures = size(XTrain{1},2)

XTrainConcatenated = cat(1,XTrain{:});
mu = mean(XTrainConcatenated,1);
sig = std(XTrainConcatenated,0,1);

for i = 1:numel(XTrain)
    XTrain{i} = (XTrain{i} - mu) ./ sig;
end

thr = 150;
for i = 1:numel(TTrain)
    TTrain{i}(TTrain{i} > thr) = thr;
end

for i=1:numel(XTrain)
    sequence = XTrain{i};
    sequenceLengths(i) = size(sequence,1);
end

[sequenceLengths,idx] = sort(sequenceLengths,"descend");
XTrain = XTrain(idx);
TTrain = TTrain(idx);

numResponses = size(TTrain{1},2);
numHiddenUnits = 200;

layers = [
    sequenceInputLayer(numFeatures)
    lstmLayer(numHiddenUnits,OutputMode="sequence")
    fullyConnectedLayer(50)
    dropoutLayer(0.5)
    fullyConnectedLayer(numResponses)];

maxEpochs = 60;
miniBatchSize = 20;
options = trainingOptions("adam", ...
    MaxEpochs=maxEpochs, ...
    MiniBatchSize=miniBatchSize, ...
    InitialLearnRate=0.01, ...
    GradientThreshold=1, ...
    Shuffle="never", ...
    Metrics="rmse", ...
    Plots="training-progress", ...
    Verbose=0);
net = trainnet(XTrain,TTrain,layers,"mse",options);
