% Pattern: classification scripts on public GitHub that turn a feature matrix (one observation per row) into
% a cell of column sequences in a for-loop with mat2cell, grow the label vector element by element, make
% it categorical, and size the network from the data (numFeatures from the first cell, numClasses from the
% labels); classify with 'MiniBatchSize' and accuracy as mean(YPred == YTest).
rng(rngSeed); % reset random seed so experiments are reproducible

XTrain = {[]};
YTrain = [];
for i=1:size(modelTrainMat,1)
    tmpMat = modelTrainMat(i,:)';
    XTrain(i,1) = mat2cell(tmpMat,size(tmpMat,1),size(tmpMat,2));
    YTrain(i,1) = trainLabels(i,1);
end
YTrain = categorical(YTrain);

XTest = {[]};
for i=1:size(modelTestMat,1)
    tmpMat = modelTestMat(i,:)';
    XTest(i,1) = mat2cell(tmpMat,size(tmpMat,1),size(tmpMat,2));
end
YTest = categorical(testLabels);

numFeatures = size(XTrain{1}, 1);
numHiddenUnits = 100;
numClasses = max(double(YTrain));

layers = [ ...
    sequenceInputLayer(numFeatures)
    lstmLayer(numHiddenUnits,'OutputMode','last')
    fullyConnectedLayer(numClasses)
    softmaxLayer
    classificationLayer];

miniBatchSize = 27;

% options = trainingOptions('adam', ...
%     'ExecutionEnvironment','cpu', ...
%     'ValidationData',{XTest,YTest}, ...
%     'Plots','training-progress');

options = trainingOptions('adam', ...
    'ExecutionEnvironment','cpu', ...
    'MaxEpochs',100, ...
    'MiniBatchSize',miniBatchSize, ...
    'GradientThreshold',2, ...
    'Shuffle','every-epoch', ...
    'Verbose',false, ...
    'Plots','training-progress');

net = trainNetwork(XTrain,YTrain,layers,options);

YPred = classify(net,XTest,'MiniBatchSize',miniBatchSize);
acc = mean(YPred == YTest)
