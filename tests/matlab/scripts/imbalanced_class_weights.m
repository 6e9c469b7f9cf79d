% Pattern: MathWorks "Train Sequence Classification Network Using Data With Imbalanced Classes" (trainNetwork
% version): the data made imbalanced by deleting observations of one class, class weights from countcats,
% given to classificationLayer with the class names.
load WaveformData
numChannels = size(data{1},2);
classNames = categories(labels);
numClasses = numel(classNames);

% keep only ten Sawtooth observations
idxSawtooth = find(labels == "Sawtooth");
data(idxSawtooth(11:end)) = [];
labels(idxSawtooth(11:end)) = [];

figure
histogram(categorical(labels))
title("Class Distribution")

XTrain = data;
TTrain = categorical(labels);
classWeights = numel(TTrain)./(numClasses*countcats(TTrain));

layers = [
    sequenceInputLayer(numChannels)
    bilstmLayer(120,OutputMode="last")
    fullyConnectedLayer(numClasses)
    softmaxLayer
    classificationLayer(Classes=classNames,ClassWeights=classWeights)];

options = trainingOptions("adam", MaxEpochs=200, InitialLearnRate=0.002, GradientThreshold=1, ...
    Shuffle="never", Plots="training-progress", Verbose=false);
net = trainNetwork(XTrain,TTrain,layers,options);
