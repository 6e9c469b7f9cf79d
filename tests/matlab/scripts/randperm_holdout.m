% Pattern: GitHub LSTM scripts that shuffle with randperm and split 80/20 by index, labels stored as integers
% 1..K (numClasses = max(labels)), sequences in a cell; rng seeded first.
rng(1);
load data_seq.mat        % seqs: N-by-1 cell of C-by-T, labels: N-by-1 integers
N = numel(seqs);
perm = randperm(N);
nTrain = round(0.8 * N);
trainIdx = perm(1:nTrain);
testIdx  = perm(nTrain+1:end);

XTrain = seqs(trainIdx);
YTrain = categorical(labels(trainIdx));
XTest  = seqs(testIdx);
YTest  = categorical(labels(testIdx));

inputSize = size(XTrain{1}, 1);
numClasses = max(labels);
numHidden = 50;

layers = [ ...
    sequenceInputLayer(inputSize)
    bilstmLayer(numHidden, 'OutputMode', 'last')
    fullyConnectedLayer(numClasses)
    softmaxLayer
    classificationLayer];

options = trainingOptions('sgdm', 'MaxEpochs', 100, 'MiniBatchSize', 32, ...
    'ValidationData', {XTest, YTest}, 'Verbose', 0);
net = trainNetwork(XTrain, YTrain, layers, options);
YPred = classify(net, XTest);
accuracy = sum(YPred == YTest) / numel(YTest);
disp(['Test accuracy: ' num2str(accuracy)]);
