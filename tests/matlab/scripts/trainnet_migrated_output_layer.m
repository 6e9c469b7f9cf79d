% Pattern: MathWorks "Migrate trainNetwork Code to trainnet": the layer array still ends in a classificationLayer
% (written for trainNetwork), and trainnet is given the array without its output layer and a loss instead.
load("WaveformData.mat")                      % data: numObservations-by-1 cell of T-by-3, labels
numChannels = size(data{1},2);
classNames = categories(categorical(labels));
numClasses = numel(classNames);

idx = randperm(numel(data));
XTrain = cellfun(@transpose, data(idx), UniformOutput=false);
TTrain = labels(idx);

layers = [
    sequenceInputLayer(numChannels)
    lstmLayer(120,OutputMode="last")
    fullyConnectedLayer(numClasses)
    softmaxLayer
    classificationLayer];

% trainNetwork(XTrain,categorical(TTrain),layers,options) before R2023b
options = trainingOptions("adam", ...
    MaxEpochs=150, ...
    InitialLearnRate=0.01, ...
    Shuffle="every-epoch", ...
    Metrics="accuracy", ...
    Verbose=false);
net = trainnet(XTrain,categorical(TTrain),layers(1:end-1),"crossentropy",options);

scores = minibatchpredict(net,XTrain);
YTrain = scores2label(scores,classNames);
accuracy = mean(YTrain == categorical(TTrain))
