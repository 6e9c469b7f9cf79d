% Pattern: MathWorks "Transfer Learning Using Pretrained Network": layersTransfer = net.Layers(1:end-3), then
% [layersTransfer; fullyConnectedLayer(numClasses,...); softmaxLayer; classificationLayer]; here the first network
% is trained in the same script (trainNetwork), its hidden size read back for a wider second model.
load sourceData.mat
load targetData.mat

inputSize = size(XSource{1},1);
layers = [sequenceInputLayer(inputSize) bilstmLayer(48,'OutputMode','last') dropoutLayer(0.1) ...
    fullyConnectedLayer(numel(unique(YSource))) softmaxLayer classificationLayer];
net = trainNetwork(XSource,categorical(YSource),layers, ...
    trainingOptions('adam','MaxEpochs',20,'Verbose',false));

numClasses = numel(unique(YTarget));
numLayers = numel(net.Layers);
layersTransfer = net.Layers(1:numLayers-3);
numHidden = net.Layers(2).NumHiddenUnits;
layers = [
    layersTransfer
    fullyConnectedLayer(2*numHidden,'WeightLearnRateFactor',20,'BiasLearnRateFactor',20)
    reluLayer
    fullyConnectedLayer(numClasses)
    softmaxLayer
    classificationLayer];
options = trainingOptions('sgdm','MiniBatchSize',10,'MaxEpochs',6,'InitialLearnRate',1e-4,'Verbose',false);
netTransfer = trainNetwork(XTarget,categorical(YTarget),layers,options);
