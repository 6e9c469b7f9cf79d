% Pattern: MathWorks "Generate Text Using Deep Learning" (character-level LSTM): one-hot character sequences,
% the response vocabulary from categories([YTrain{:}]), two stacked LSTMs with dropout.
load textData.mat        % XTrain: cell of numCharacters-by-T one-hot sequences, YTrain: cells of next characters

figure
imagesc(XTrain{1})
title("First Observation")

numFeatures = size(XTrain{1},1);
numHiddenUnits = 400;
numResponses = numel(categories([YTrain{:}]));

layers = [
    sequenceInputLayer(numFeatures)
    lstmLayer(numHiddenUnits,'OutputMode','sequence')
    dropoutLayer(0.2)
    lstmLayer(numHiddenUnits,'OutputMode','sequence')
    dropoutLayer(0.2)
    fullyConnectedLayer(numResponses)
    softmaxLayer
    classificationLayer];

options = trainingOptions('adam', ...
    'MaxEpochs',500, ...
    'InitialLearnRate',0.01, ...
    'GradientThreshold',2, ...
    'MiniBatchSize',77, ...
    'Shuffle','every-epoch', ...
    'Plots','training-progress', ...
    'Verbose',false);
net = trainNetwork(XTrain,YTrain,layers,options);

initialCharacters = extractBefore("The quick brown fox",2);
generatedText = generateText(net,initialCharacters,uniqueCharacters,numCharacters);
