% Pattern: MathWorks' custom training loop for a stateful dlnetwork (R2024): the forward pass returns the
% updated state, assigned back with net.State = state; an SGD step through dlupdate on net.Learnables;
% the fully connected layer frozen by a property assignment after the array is built.
load HumanActivityTrain
numFeatures = size(XTrain{1},1);
classNames = categories(categorical(YTrain));
numClasses = numel(classNames);

layers = [
    sequenceInputLayer(numFeatures, Normalization="zscore")
    lstmLayer(200, OutputMode="sequence")
    dropoutLayer(0.2)
    fullyConnectedLayer(numClasses)
    softmaxLayer];
layers(1).Mean = mean([XTrain{:}], 2);
layers(1).StandardDeviation = std([XTrain{:}], 0, 2);
layers(4).WeightLearnRateFactor = 0;
layers(2).Name = "lstm_activity";
net = dlnetwork(layers);

learnRate = 0.01;
numEpochs = 60;
for epoch = 1:numEpochs
    for i = 1:numel(XTrain)
        X = dlarray(XTrain{i}, "CT");
        T = onehotencode(categorical(YTrain(i), classNames), 1);
        [loss, gradients, state] = dlfeval(@modelLoss, net, X, T);
        net.State = state;
        updateFcn = @(parameters, gradients) parameters - learnRate .* gradients;
        net.Learnables = dlupdate(updateFcn, net.Learnables, gradients);
    end
    fprintf("epoch %d: loss %.4f\n", epoch, extractdata(loss));
end

function [loss, gradients, state] = modelLoss(net, X, T)
[Y, state] = forward(net, X);
loss = crossentropy(Y, T);
gradients = dlgradient(loss, net.Learnables);
end
