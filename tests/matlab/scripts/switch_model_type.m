% Pattern: comparison scripts that pick the recurrent layer with a switch on a string (LSTM / BiLSTM / GRU),
% choose it on the command line with --set modelType="gru".
modelType = "bilstm";
numFeatures = 9;
numHiddenUnits = 64;
numClasses = 6;

switch lower(modelType)
    case "lstm"
        rnn = lstmLayer(numHiddenUnits, OutputMode="last");
    case {"bilstm", "bi-lstm"}
        rnn = bilstmLayer(numHiddenUnits, OutputMode="last");
    case "gru"
        rnn = gruLayer(numHiddenUnits, OutputMode="last");
    otherwise
        error("Unknown model type: %s", modelType);
end

layers = [sequenceInputLayer(numFeatures, Name="input"); rnn; fullyConnectedLayer(numClasses); softmaxLayer];
fprintf("Training a %s network\n", modelType);
net = trainnet(XTrain, TTrain, layers, "crossentropy", trainingOptions("adam"));
