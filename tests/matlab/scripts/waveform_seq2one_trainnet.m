% Pattern: MathWorks "Sequence-to-One Regression Using Deep Learning" (WaveformData, R2024 trainnet version):
% numTimeSteps-by-numChannels sequences used as they are, numResponses from the target matrix, trainingPartitions
% (the example's supporting file, not in this script), Normalization="zscore" with statistics trainnet computes
% from the training data, OutputMode="last", "mse" loss, then minibatchpredict and plots of the test errors.
load WaveformData

numObservations = numel(data)
data(1:4)
freq(1:4,:)

numChannels = size(data{1},2)
numResponses = size(freq,2)

figure
tiledlayout(2,2)
for i = 1:4
    nexttile
    stackedplot(data{i}, DisplayLabels="Channel " + (1:numChannels))
    xlabel("Time Step")
    title("Frequency: " + freq(i))
end

[idxTrain,idxValidation,idxTest] = trainingPartitions(numObservations, [0.8 0.1 0.1]);

XTrain = data(idxTrain);
XValidation = data(idxValidation);
XTest = data(idxTest);

TTrain = freq(idxTrain);
TValidation = freq(idxValidation);
TTest = freq(idxTest);

numHiddenUnits = 100;

layers = [ ...
    sequenceInputLayer(numChannels, Normalization="zscore")
    lstmLayer(numHiddenUnits, OutputMode="last")
    fullyConnectedLayer(numResponses)]

options = trainingOptions("adam", ...
    MaxEpochs=250, ...
    ValidationData={XValidation TValidation}, ...
    OutputNetwork="best-validation", ...
    InitialLearnRate=0.005, ...
    SequenceLength="shortest", ...
    Metrics="rmse", ...
    Plots="training-progress", ...
    Verbose=false);

net = trainnet(XTrain,TTrain,layers,"mse",options);

YTest = minibatchpredict(net,XTest,SequenceLength="shortest");

rmse = sqrt(mean((YTest - TTest).^2))

figure
histogram(YTest - TTest)
xlabel("Error")
ylabel("Frequency")

figure
scatter(YTest,TTest,"b+");
xlabel("Predicted Frequency")
ylabel("Actual Frequency")
hold on

m = min(freq);
M = max(freq);
xlim([m M])
ylim([m M])
plot([m M], [m M], "r--")
