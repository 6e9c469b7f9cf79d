function layers = buildLstmClassifier(numFeatures, numClasses, numHiddenUnits, bidirectional)
%BUILDLSTMCLASSIFIER Pattern: a function file that returns the layer array, with an arguments block giving
% defaults (R2019b+), as public toolboxes write them. Build it with --set numFeatures=... --set numClasses=...
arguments
    numFeatures (1,1) {mustBeInteger, mustBePositive}
    numClasses (1,1) {mustBeInteger, mustBePositive}
    numHiddenUnits (1,1) {mustBeInteger, mustBePositive} = 100
    bidirectional (1,1) logical = false
end

if bidirectional
    recurrent = bilstmLayer(numHiddenUnits, 'OutputMode', 'last', 'Name', 'rnn');
else
    recurrent = lstmLayer(numHiddenUnits, 'OutputMode', 'last', 'Name', 'rnn');
end

layers = [
    sequenceInputLayer(numFeatures, 'Name', 'in')
    recurrent
    fullyConnectedLayer(numClasses, 'Name', 'fc')
    softmaxLayer('Name', 'softmax')
    classificationLayer('Name', 'classoutput')];
end
