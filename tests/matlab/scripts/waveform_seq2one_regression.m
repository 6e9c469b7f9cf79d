% Pattern: MathWorks "Sequence-to-One Regression Using Deep Learning" (WaveformData, frequency targets):
% numTimeSteps-by-numChannels sequences transposed with cellfun, sizes from the data and the target matrix,
% the example's trainingPartitions supporting function kept at the end of the file (varargout, an arguments block
% with validators), Normalization="zscore".
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
numTrain = numel(XTrain);

layers = [ ...
    sequenceInputLayer(numChannels, Normalization="zscore", Mean=zeros(numChannels,1), StandardDeviation=ones(numChannels,1))
    lstmLayer(numHiddenUnits, OutputMode="last", Name="lstm_" + numTrain)
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

numResponsesCheck = size(TTrain,2);

function varargout = trainingPartitions(numObservations,splits)
%TRAININGPARTITONS Random indices for splitting training data (the example's supporting function, kept in the
% file as exported live scripts do): each partition but the last takes floor(split*numObservations) indices.
arguments
    numObservations (1,1) {mustBePositive}
    splits {mustBeVector,mustBeInRange(splits,0,1,"exclusive"),mustSumToOne}
end

numPartitions = numel(splits);
varargout = cell(1,numPartitions);

idx = randperm(numObservations);

idxEnd = 0;
for i = 1:numPartitions-1
    idxStart = idxEnd + 1;
    idxEnd = idxStart + floor(splits(i)*numObservations) - 1;
    varargout{i} = idx(idxStart:idxEnd);
end

% The last partition takes the rest.
varargout{end} = idx(idxEnd+1:end);
end

function mustSumToOne(v)
% Validate that the value sums to one.
if sum(v,"all") ~= 1
    error("Value must sum to one.")
end
end
