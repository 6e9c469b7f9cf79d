% Pattern: MathWorks "Sequence-to-Sequence Classification Using Deep Learning" (HumanActivity), R2024 trainnet
% version: labels per time step in TTrain, numFeatures/numClasses written as numbers, a softmax head (no
% classificationLayer) trained with "crossentropy", then minibatchpredict/scores2label on the test sequence
% and a plot of the predictions against the test labels.
load HumanActivityTrain
XTrain

X = XTrain{1}(1,:);
classNames = categories(TTrain{1});

figure
for j = 1:numel(classNames)
    label = classNames(j);
    idx = find(TTrain{1} == label);
    hold on
    plot(idx,X(idx))
end
hold off

xlabel("Time Step")
ylabel("Acceleration")
title("Training Sequence 1, Feature 1")
legend(classNames,Location="northwest")

numFeatures = 3;
numHiddenUnits = 200;
numClasses = 5;

layers = [
    sequenceInputLayer(numFeatures)
    lstmLayer(numHiddenUnits,OutputMode="sequence")
    fullyConnectedLayer(numClasses)
    softmaxLayer];

options = trainingOptions("adam", ...
    MaxEpochs=60, ...
    GradientThreshold=2, ...
    Verbose=false, ...
    Metrics="accuracy", ...
    Plots="training-progress");

net = trainnet(XTrain,TTrain,layers,"crossentropy",options);

load HumanActivityTest
scores = minibatchpredict(net,XTest{1});
YTest = scores2label(scores,classNames);

figure
plot(YTest,".-")
hold on
plot(TTest{1})
hold off

xlabel("Time Step")
ylabel("Activity")
title("Predicted Activities")
legend(["Predicted" "Test Data"])

acc = mean(YTest == TTest{1})
