% Pattern: MathWorks examples that load their data from the example folder with fullfile
% (dataFolder = fullfile(matlabroot,...); load(fullfile(dataFolder,"WaveformData.mat"))). lstm2onnx never opens
% that path: the --data file stands for it.
dataFolder = fullfile(matlabroot,"examples","deeplearning_shared","data");
load(fullfile(dataFolder,"WaveformData.mat"))

numChannels = size(data{1},2);
numClasses = numel(unique(labels));
XTrain = cellfun(@(X) X', data, UniformOutput=false);

layers = [
    sequenceInputLayer(numChannels)
    lstmLayer(64,OutputMode="last")
    fullyConnectedLayer(numClasses)
    softmaxLayer
    classificationLayer];

options = trainingOptions("adam",MaxEpochs=60,Verbose=false);
net = trainNetwork(XTrain,categorical(labels),layers,options);
