% Pattern: MathWorks "Train Sequence Classification Network Using Custom Training Loop" (Waveform data, R2024):
% time-by-channel sequences, trainingPartitions, a dlnetwork of the layer array, minibatchqueue with a
% MiniBatchFcn, dlfeval(@modelLoss,...) with crossentropy and adamupdate under a time-based decay schedule,
% then test predictions in mini-batches; only the network given to dlnetwork is built.
load WaveformData
numChannels = size(data{1},2);

figure
tiledlayout(2,2)
for i = 1:4
    nexttile
    stackedplot(data{i},DisplayLabels="Channel " + string(1:numChannels))
    xlabel("Time Step")
    title("Class: " + string(labels(i)))
end

classNames = categories(labels)

numObservations = numel(data);
[idxTrain,idxTest] = trainingPartitions(numObservations,[0.9 0.1]);
XTrain = data(idxTrain);
TTrain = labels(idxTrain);
XTest = data(idxTest);
TTest = labels(idxTest);

%% Define Network Architecture
numHiddenUnits = 128;
numClasses = numel(classNames);

layers = [
    sequenceInputLayer(numChannels)
    lstmLayer(numHiddenUnits,OutputMode="last")
    fullyConnectedLayer(numClasses)
    softmaxLayer];

net = dlnetwork(layers)

%% Specify Training Options
numEpochs = 60;
miniBatchSize = 100;
initialLearnRate = 0.005;
decay = 0.01;

%% Train Model
adsXTrain = arrayDatastore(XTrain,OutputType="same");
adsTTrain = arrayDatastore(TTrain);
cdsTrain = combine(adsXTrain,adsTTrain);

mbq = minibatchqueue(cdsTrain,...
    MiniBatchSize=miniBatchSize,...
    MiniBatchFcn=@preprocessMiniBatch,...
    MiniBatchFormat=["BTC" ""]);

numObservationsTrain = numel(XTrain);
numIterationsPerEpoch = ceil(numObservationsTrain / miniBatchSize);
numIterations = numEpochs * numIterationsPerEpoch;

monitor = trainingProgressMonitor( ...
    Metrics="Loss", ...
    Info=["Epoch" "LearnRate"], ...
    XLabel="Iteration");

trailingAvg = [];
trailingAvgSq = [];
epoch = 0;
iteration = 0;

while epoch < numEpochs && ~monitor.Stop
    epoch = epoch + 1;
    shuffle(mbq);

    while hasdata(mbq) && ~monitor.Stop
        iteration = iteration + 1;
        [X,T] = next(mbq);

        [loss,gradients,state] = dlfeval(@modelLoss,net,X,T);
        net.State = state;

        learnRate = initialLearnRate/(1 + decay*iteration);
        [net,trailingAvg,trailingAvgSq] = adamupdate(net,gradients, ...
            trailingAvg,trailingAvgSq,iteration,learnRate);

        recordMetrics(monitor,iteration,Loss=loss);
        updateInfo(monitor,Epoch=epoch,LearnRate=learnRate);
        monitor.Progress = 100 * iteration/numIterations;
    end
end

%% Test Model
adsXTest = arrayDatastore(XTest,OutputType="same");
mbqTest = minibatchqueue(adsXTest, ...
    MiniBatchSize=miniBatchSize, ...
    MiniBatchFcn=@preprocessPredictors, ...
    MiniBatchFormat="BTC");

YTest = modelPredictions(net,mbqTest,classNames);
accuracy = mean(TTest == YTest)

figure
confusionchart(TTest,YTest)

%% Supporting Functions
function [loss,gradients,state] = modelLoss(net,X,T)
[Y,state] = forward(net,X);
loss = crossentropy(Y,T);
gradients = dlgradient(loss,net.Learnables);
end

function Y = modelPredictions(net,mbq,classNames)
Y = [];
reset(mbq)
while hasdata(mbq)
    X = next(mbq);
    scores = predict(net,X);
    Y = [Y; onehotdecode(scores,classNames,1)'];
end
end

function [X,T] = preprocessMiniBatch(dataX,dataT)
X = preprocessPredictors(dataX);
T = cat(1,dataT{:});
T = onehotencode(T,2);
T = T';
end

function X = preprocessPredictors(dataX)
X = padsequences(dataX,1);
end
