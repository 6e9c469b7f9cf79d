% Pattern: MathWorks transfer learning ("Transfer Learning Using Pretrained Network", "Train Network with New
% Classes"): a network trained on a large source set, then its layers taken (net.Layers), the classification
% head replaced for the target's classes (layers(end-2) = fullyConnectedLayer(...), learn-rate factors raised),
% and retrained on the smaller target set. The network built is the last one trained.
load sourceData.mat                     % XSource, YSource: many sequences, 3 source classes
load targetData.mat                     % XTarget, YTarget: few sequences, the target's classes

numFeatures = size(XSource{1},1);
numSourceClasses = numel(unique(YSource));

layers = [
    sequenceInputLayer(numFeatures,'Name','input')
    lstmLayer(96,'OutputMode','last','Name','lstm')
    dropoutLayer(0.2,'Name','drop')
    fullyConnectedLayer(numSourceClasses,'Name','fc')
    softmaxLayer('Name','softmax')
    classificationLayer('Name','output')];

options = trainingOptions('adam','MaxEpochs',30,'MiniBatchSize',64,'Verbose',false);
[net,info] = trainNetwork(XSource,categorical(YSource),layers,options);
fprintf('source accuracy %.3f\n', info.TrainingAccuracy(end));

% transfer: keep the feature layers, a new head for the target classes
numTargetClasses = numel(categories(categorical(YTarget)));
fprintf('%d layers, %d hidden units\n', numel(net.Layers), net.Layers(2).NumHiddenUnits);
layers = net.Layers;
layers(end-2) = fullyConnectedLayer(numTargetClasses, ...
    'WeightLearnRateFactor',10,'BiasLearnRateFactor',10,'Name','fc_target');
layers(end) = classificationLayer('Name','output_target');

optionsTransfer = trainingOptions('sgdm','InitialLearnRate',1e-4,'MaxEpochs',10,'Verbose',false);
netTransfer = trainNetwork(XTarget,categorical(YTarget),layers,optionsTransfer);
YPred = classify(netTransfer,XTarget);
accuracy = mean(YPred == categorical(YTarget))
