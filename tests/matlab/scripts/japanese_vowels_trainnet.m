% Pattern: MathWorks "Sequence Classification Using Deep Learning" (Japanese Vowels), R2024 trainnet version:
% data from a helper function, sequence lengths in a loop, classNames = categories(...), softmax head, trainnet.
[XTrain,TTrain] = japaneseVowelsTrainData;
XTrain(1:5)

figure
plot(XTrain{1}')
xlabel("Time Step")
title("Training Observation 1")
numFeatures = size(XTrain{1},1);
legend("Feature " + string(1:numFeatures),Location="northeastoutside")

classNames = categories(TTrain)

numObservations = numel(XTrain);
for i=1:numObservations
    sequence = XTrain{i};
    sequenceLengths(i) = size(sequence,2);
end
[sequenceLengths,idx] = sort(sequenceLengths);
XTrain = XTrain(idx);
TTrain = TTrain(idx);

figure
bar(sequenceLengths)
xlabel("Sequence")
ylabel("Length")
title("Sorted Data")

numHiddenUnits = 100;
numClasses = numel(classNames);

layers = [
    sequenceInputLayer(numFeatures)
    bilstmLayer(numHiddenUnits,OutputMode="last")
    fullyConnectedLayer(numClasses)
    softmaxLayer]

options = trainingOptions("adam", ...
    MaxEpochs=200, ...
    InitialLearnRate=0.002,...
    GradientThreshold=1, ...
    Shuffle="never", ...
    Plots="training-progress", ...
    Metrics="accuracy", ...
    Verbose=false);

net = trainnet(XTrain,TTrain,layers,"crossentropy",options);

[XTest,TTest] = japaneseVowelsTestData;
scores = minibatchpredict(net,XTest);
YTest = scores2label(scores,classNames);
acc = mean(YTest == TTest)
