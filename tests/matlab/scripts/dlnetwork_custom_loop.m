% Pattern: MathWorks custom training loops ("Train Network Using Custom Training Loop" for sequences):
% a layer array without an output layer, net = dlnetwork(layers), minibatchqueue, dlfeval with a local
% model-loss function at the end of the script; none of the loop runs, only the network is built.
load sequenceData.mat     % XTrain: cell of C-by-T, TTrain: labels
numChannels = size(XTrain{1},1);
classNames = categories(TTrain);
numClasses = numel(classNames);

layers = [
    sequenceInputLayer(numChannels)
    gruLayer(96,OutputMode="last")
    fullyConnectedLayer(numClasses)
    softmaxLayer];
net = dlnetwork(layers);

numEpochs = 30;
miniBatchSize = 64;
dsTrain = combine(arrayDatastore(XTrain,OutputType="same"), arrayDatastore(TTrain));
mbq = minibatchqueue(dsTrain, ...
    MiniBatchSize=miniBatchSize, ...
    MiniBatchFcn=@preprocessMiniBatch, ...
    MiniBatchFormat=["CTB" ""]);

averageGrad = [];
averageSqGrad = [];
iteration = 0;
monitor = trainingProgressMonitor(Metrics="Loss", Info="Epoch", XLabel="Iteration");
for epoch = 1:numEpochs
    shuffle(mbq);
    while hasdata(mbq) && ~monitor.Stop
        iteration = iteration + 1;
        [X,T] = next(mbq);
        [loss,gradients] = dlfeval(@modelLoss,net,X,T);
        [net,averageGrad,averageSqGrad] = adamupdate(net,gradients,averageGrad,averageSqGrad,iteration);
        recordMetrics(monitor,iteration,Loss=loss);
    end
end

function [loss,gradients] = modelLoss(net,X,T)
Y = forward(net,X);
loss = crossentropy(Y,T);
gradients = dlgradient(loss,net.Learnables);
end

function [X,T] = preprocessMiniBatch(dataX,dataT)
X = padsequences(dataX,2);
T = onehotencode(cat(1,dataT{:}),2);
end
