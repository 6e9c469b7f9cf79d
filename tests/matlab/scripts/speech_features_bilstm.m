% Pattern: keyword / speech-command recognition with an LSTM on frame features, after MathWorks' audio examples
% ("Speech Command Recognition Using Deep Learning", "Classify Gender Using LSTM Networks"): audio read into a
% cell, every clip padded or cut to one second, features computed per frame in a loop and transposed to
% numFeatures-by-numFrames, standardized with cellfun, sizes and classes taken from the data.
load("speechCommandsTrain.mat")   % audioTrain: cell of column vectors (16 kHz), labelsTrain: the command of each

fs = 16e3;
segmentDuration = 1;
frameDuration = 0.025;
segmentSamples = round(segmentDuration*fs);
frameSamples = round(frameDuration*fs);

YTrain = categorical(labelsTrain);
classes = categories(YTrain);

numClips = numel(audioTrain);
XTrain = cell(numClips,1);
for ii = 1:numClips
    x = audioTrain{ii};
    numSamples = numel(x);
    if numSamples < segmentSamples
        x = [x; zeros(segmentSamples - numSamples,1)];
    else
        x = x(1:segmentSamples);
    end
    features = helperFrameFeatures(x, frameSamples);
    XTrain{ii} = features';
end

% Standardize each feature over the training set.
allFeatures = [XTrain{:}];
M = mean(allFeatures,2);
S = std(allFeatures,0,2);
XTrain = cellfun(@(X) (X - M)./S, XTrain, UniformOutput=false);

numFrames = cellfun(@(X) size(X,2), XTrain);
figure
histogram(numFrames)

numFeatures = size(XTrain{1},1);
numHiddenUnits = 128;
numClasses = numel(classes);

layers = [ ...
    sequenceInputLayer(numFeatures)
    bilstmLayer(numHiddenUnits,"OutputMode","sequence")
    dropoutLayer(0.2)
    bilstmLayer(numHiddenUnits/2,"OutputMode","last")
    dropoutLayer(0.2)
    fullyConnectedLayer(numClasses)
    softmaxLayer
    classificationLayer];

miniBatchSize = 64;
options = trainingOptions("adam", ...
    "InitialLearnRate",3e-4, ...
    "MaxEpochs",25, ...
    "MiniBatchSize",miniBatchSize, ...
    "Shuffle","every-epoch", ...
    "Plots","training-progress", ...
    "Verbose",false);

net = trainNetwork(XTrain,YTrain,layers,options);

YPred = classify(net,XTrain);
trainAccuracy = mean(YPred == YTrain) * 100
figure
confusionchart(YTrain,YPred,"RowSummary","row-normalized")

function features = helperFrameFeatures(x, frameLength)
% per non-overlapping frame: log energy, zero-crossing rate, peak, crest factor and the log energies of 8
% sub-frames; numFrames-by-numFeatures
numFrames = floor(numel(x)/frameLength);
frames = reshape(x(1:numFrames*frameLength), frameLength, numFrames);
logEnergy = log10(sum(frames.^2, 1) + eps);
zcr = sum(abs(diff(sign(frames), 1, 1)), 1) / (2*frameLength);
peak = max(abs(frames), [], 1);
crest = peak ./ sqrt(mean(frames.^2, 1) + eps);
numSub = 8;
sub = reshape(frames, frameLength/numSub, numSub, numFrames);
subEnergy = log10(reshape(sum(sub.^2, 1), numSub, numFrames) + eps);
features = [logEnergy; zcr; peak; crest; subEnergy]';
end
