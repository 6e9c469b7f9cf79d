% Pattern: MathWorks "Classify Text Data Using Deep Learning" (factory reports): a table from readtable, a
% wordEncoding whose NumWords sizes the embedding (not computable outside MATLAB: given with --set numWords=N),
% sequenceInputLayer(1) -> wordEmbeddingLayer -> LSTM ('last').
filename = "factoryReports.csv";
data = readtable(filename,'TextType','string');
head(data)

data.Category = categorical(data.Category);
figure
histogram(data.Category);
xlabel("Class")
ylabel("Frequency")

cvp = cvpartition(data.Category,'Holdout',0.2);
dataTrain = data(training(cvp),:);
dataValidation = data(test(cvp),:);

textDataTrain = dataTrain.Description;
YTrain = dataTrain.Category;

documentsTrain = preprocessText(textDataTrain);
enc = wordEncoding(documentsTrain);

inputSize = 1;
embeddingDimension = 50;
numHiddenUnits = 80;

numWords = enc.NumWords;
numClasses = numel(categories(YTrain));

layers = [ ...
    sequenceInputLayer(inputSize)
    wordEmbeddingLayer(embeddingDimension,numWords)
    lstmLayer(numHiddenUnits,'OutputMode','last')
    fullyConnectedLayer(numClasses)
    softmaxLayer
    classificationLayer]

XTrain = doc2sequence(enc,documentsTrain,'Length',75);
options = trainingOptions('adam', ...
    'MiniBatchSize',16, ...
    'GradientThreshold',2, ...
    'Shuffle','every-epoch', ...
    'Plots','training-progress', ...
    'Verbose',false);
net = trainNetwork(XTrain,YTrain,layers,options);

function documents = preprocessText(textData)
documents = tokenizedDocument(textData);
documents = lower(documents);
documents = erasePunctuation(documents);
end
