% Pattern: MathWorks "Sequence-to-Sequence Classification Using Deep Learning" (HumanActivity):
% one long sequence per observation, a label per time step, OutputMode "sequence".
load HumanActivityTrain
XTrain

X = XTrain{1}(1,:);
classes = categories(YTrain{1});

figure
for j = 1:numel(classes)
    label = classes(j);
    idx = find(YTrain{1} == label);
    hold on
    plot(idx,X(idx))
end
hold off

xlabel("Time Step")
ylabel("Acceleration")
title("Training Sequence 1, Feature 1")
legend(classes,'Location','northwest')

numFeatures = size(XTrain{1},1);
numHiddenUnits = 200;
numClasses = numel(classes);

layers = [ ...
    sequenceInputLayer(numFeatures)
    lstmLayer(numHiddenUnits,'OutputMode','sequence')
    fullyConnectedLayer(numClasses)
    softmaxLayer
    classificationLayer];

options = trainingOptions('adam', ...
    'MaxEpochs',60, ...
    'GradientThreshold',2, ...
    'Verbose',0, ...
    'Plots','training-progress');

net = trainNetwork(XTrain,YTrain,layers,options);

load HumanActivityTest
YPred = classify(net,XTest{1});
acc = sum(YPred == YTest{1})./numel(YTest{1})
