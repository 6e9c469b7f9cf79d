% Pattern: public thesis/robotics code that trains on one long multichannel recording kept as a matrix: columns
% picked from a data matrix, transposed to features-by-time, sizes with length(X(:,1)), a validation subset drawn
% with randperm over the time steps and deleted with X(:,idx) = [], Normalization 'zscore' (statistics from training).
data = modeldist_traindata;
inputdata = [data(:,1:12) data(:,49:56)];
YTrain = (data(:,31:33) - data(:,43:45))';

XTrain = inputdata';

numFeatures = length(XTrain(:,1));
numResponses = length(YTrain(:,1));

layers = [ ...
    sequenceInputLayer(numFeatures,'Normalization','zscore')
    lstmLayer(150)
    reluLayer
    fullyConnectedLayer(numResponses)
    regressionLayer];

maxEpochs = 400;
miniBatchSize = 32;

idx = randperm(size(XTrain,2),80);
XValidation = XTrain(:,idx);
XTrain(:,idx) = [];
YValidation = YTrain(:,idx);
YTrain(:,idx) = [];

options = trainingOptions('adam', ...
    'MaxEpochs',maxEpochs, ...
    'MiniBatchSize',miniBatchSize, ...
    'ValidationData',{XValidation,YValidation}, ...
    'ValidationFrequency',30, ...
    'InitialLearnRate',0.01, ...
    'Shuffle','every-epoch', ...
    'Plots','training-progress',...
    'Verbose',1);

tiltnet = trainNetwork(XTrain,YTrain,layers,options);
