% Pattern: ablation studies in public code: one layer array with every block, then networks trained on
% selections of it: a wider head after the first layers ([layers(1:3); fullyConnectedLayer(...); ...]) and,
% last, the array without its dropout layer (layers([1 2 4 5 6])).
load sensorData.mat                 % X: cell of C-by-T sequences, Y: activity labels
numFeatures = size(X{1},1);
numClasses = numel(unique(Y));

layers = [ ...
    sequenceInputLayer(numFeatures,'Name','input')
    bilstmLayer(64,'OutputMode','last','Name','bilstm')
    dropoutLayer(0.3,'Name','drop')
    fullyConnectedLayer(numClasses,'Name','fc')
    softmaxLayer('Name','softmax')
    classificationLayer('Name','output')];

options = trainingOptions('adam','MaxEpochs',40,'MiniBatchSize',16,'Verbose',false);

netFull = trainNetwork(X,categorical(Y),layers,options);

% the same features with a larger head
netWide = trainNetwork(X,categorical(Y), ...
    [layers(1:3); fullyConnectedLayer(32,'Name','fc_wide'); reluLayer('Name','relu'); ...
     fullyConnectedLayer(numClasses,'Name','fc'); softmaxLayer('Name','softmax'); classificationLayer('Name','output')], ...
    options);

netNoDropout = trainNetwork(X,categorical(Y),layers([1 2 4 5 6]),options);

for candidate = {netFull, netWide, netNoDropout}
    YPred = classify(candidate{1},X);
    fprintf('accuracy %.3f\n', mean(YPred == categorical(Y)));
end
