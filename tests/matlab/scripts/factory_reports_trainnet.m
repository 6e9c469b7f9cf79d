% Pattern: MathWorks "Classify Text Data Using Deep Learning" (factory reports), R2024 trainnet version:
% a stratified holdout, tokenizedDocument preprocessing in a local function, a document-length histogram,
% wordEncoding/doc2sequence with a fixed sequence length, a softmax head trained with "crossentropy", and
% classification of new reports with minibatchpredict/scores2label.
filename = "factoryReports.csv";
data = readtable(filename,TextType="string");
head(data)

data.Category = categorical(data.Category);

figure
histogram(data.Category);
xlabel("Class")
ylabel("Frequency")
title("Class Distribution")

cvp = cvpartition(data.Category,Holdout=0.2);
dataTrain = data(training(cvp),:);
dataValidation = data(test(cvp),:);

textDataTrain = dataTrain.Description;
textDataValidation = dataValidation.Description;
TTrain = dataTrain.Category;
TValidation = dataValidation.Category;

figure
wordcloud(textDataTrain);
title("Training Data")

documentsTrain = preprocessText(textDataTrain);
documentsValidation = preprocessText(textDataValidation);

documentsTrain(1:5)

enc = wordEncoding(documentsTrain);

documentLengths = doclength(documentsTrain);
figure
histogram(documentLengths)
title("Document Lengths")
xlabel("Length")
ylabel("Number of Documents")

sequenceLength = 10;
XTrain = doc2sequence(enc,documentsTrain,Length=sequenceLength);
XTrain(1:5)

XValidation = doc2sequence(enc,documentsValidation,Length=sequenceLength);

inputSize = 1;
embeddingDimension = 50;
numHiddenUnits = 80;

numWords = enc.NumWords;
classNames = categories(TTrain);
numClasses = numel(classNames);

layers = [ ...
    sequenceInputLayer(inputSize)
    wordEmbeddingLayer(embeddingDimension,numWords)
    lstmLayer(numHiddenUnits,OutputMode="last")
    fullyConnectedLayer(numClasses)
    softmaxLayer]

options = trainingOptions("adam", ...
    MiniBatchSize=16, ...
    GradientThreshold=2, ...
    Shuffle="every-epoch", ...
    ValidationData={XValidation,TValidation}, ...
    Metrics="accuracy", ...
    Plots="training-progress", ...
    Verbose=false);

net = trainnet(XTrain,TTrain,layers,"crossentropy",options);

scores = minibatchpredict(net,XValidation);
YValidation = scores2label(scores,classNames);
accuracy = mean(YValidation == TValidation)

reportsNew = [ ...
    "Coolant is pooling underneath sorter."
    "Sorter blows fuses at start up."
    "There are some very loud rattling sounds coming from the assembler."];
documentsNew = preprocessText(reportsNew);
XNew = doc2sequence(enc,documentsNew,Length=sequenceLength);

scoresNew = minibatchpredict(net,XNew);
labelsNew = scores2label(scoresNew,classNames)

function documents = preprocessText(textData)

% Tokenize the text.
documents = tokenizedDocument(textData);

% Convert to lowercase.
documents = lower(documents);

% Erase punctuation.
documents = erasePunctuation(documents);

end
