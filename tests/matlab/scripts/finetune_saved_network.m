% Pattern: fine-tuning a network saved by an earlier session (save("pretrainedNet.mat","net") there, as in
% MathWorks "Train Network with New Classes"): load it, take net.Layers, replace the head, retrain. The saved
% network is a MATLAB object no reader outside MATLAB decodes: the build says what to do instead.
load("pretrainedNet.mat","net")          % a SeriesNetwork trained before
load("newData.mat")                      % XTrain, YTrain

numClasses = numel(unique(YTrain));
layers = net.Layers;
layers(end-2) = fullyConnectedLayer(numClasses,'Name','fc_new');
layers(end) = classificationLayer('Name','output_new');

options = trainingOptions('adam','InitialLearnRate',1e-4,'MaxEpochs',5,'Verbose',false);
netNew = trainNetwork(XTrain,categorical(YTrain),layers,options);
