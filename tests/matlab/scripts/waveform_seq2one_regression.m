% Pattern: MathWorks "Sequence-to-One Regression Using Deep Learning" (WaveformData, frequency targets):
% numTimeSteps-by-numChannels sequences transposed with cellfun, sizes from the data and the target matrix,
% an index split from a supporting function that lstm2onnx never runs, Normalization="zscore".
load WaveformData
data = cellfun(@transpose, data, UniformOutput=false);
numChannels = size(data{1},1);
numObservations = numel(data)
numResponses = size(freq,2);

figure
tiledlayout(2,2)
for i = 1:4
    nexttile
    stackedplot(data{i}', DisplayLabels="Channel " + (1:numChannels))
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
    sequenceInputLayer(numChannels, Normalization="zscore", Mean=zeros(numChannels,1), StandardDeviation=ones(numChannels,1))
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
figure
scatter(YTest,TTest,"+")
