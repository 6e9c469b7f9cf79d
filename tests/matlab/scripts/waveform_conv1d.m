% Pattern: MathWorks "Sequence Classification Using 1-D Convolutions" (WaveformData): causal 1-D convolutions,
% ReLU, layer normalization, global average pooling, softmax; classNames from categories(labels).
load WaveformData

numChannels = size(data{1},2)
classNames = categories(labels);
numClasses = numel(classNames);

numObservations = numel(data);
[idxTrain,idxValidation,idxTest] = trainingPartitions(numObservations,[0.8 0.1 0.1]);
XTrain = data(idxTrain);
TTrain = labels(idxTrain);

filterSize = 5;
numFilters = 32;

layers = [ ...
    sequenceInputLayer(numChannels)
    convolution1dLayer(filterSize,numFilters,Padding="causal")
    reluLayer
    layerNormalizationLayer
    convolution1dLayer(filterSize,2*numFilters,Padding="causal")
    reluLayer
    layerNormalizationLayer
    globalAveragePooling1dLayer
    fullyConnectedLayer(numClasses)
    softmaxLayer];

options = trainingOptions("adam", ...
    MaxEpochs=60, ...
    InitialLearnRate=0.01, ...
    SequencePaddingDirection="left", ...
    Metrics="accuracy", ...
    Plots="training-progress", ...
    Verbose=false);

net = trainnet(XTrain,TTrain,layers,"crossentropy",options);
