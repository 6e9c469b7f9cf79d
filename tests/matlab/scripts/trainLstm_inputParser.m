function [net, info] = trainLstm_inputParser(XTrain, YTrain, varargin)
% TRAINLSTM_INPUTPARSER  Train a sequence-to-label LSTM classifier.
%   net = trainLstm_inputParser(XTrain, YTrain, 'HiddenUnits', 128, 'Bidirectional', true)
p = inputParser;
p.FunctionName = mfilename;
addRequired(p, 'XTrain', @iscell);
addRequired(p, 'YTrain');
addParameter(p, 'HiddenUnits', 100, @(x) isnumeric(x) && x > 0);
addParameter(p, 'Bidirectional', false, @islogical);
addParameter(p, 'Dropout', 0.2);
addParameter(p, 'MaxEpochs', 30);
parse(p, XTrain, YTrain, varargin{:});
opt = p.Results;

numFeatures = size(opt.XTrain{1}, 1);
numClasses = numel(categories(categorical(opt.YTrain)));
if opt.Bidirectional
    rnn = bilstmLayer(opt.HiddenUnits, 'OutputMode', 'last', 'Name', 'rnn');
else
    rnn = lstmLayer(opt.HiddenUnits, 'OutputMode', 'last', 'Name', 'rnn');
end
options = trainingOptions('adam', 'MaxEpochs', opt.MaxEpochs, 'Verbose', false);
[net, info] = trainNetwork(opt.XTrain, categorical(opt.YTrain), ...
    [sequenceInputLayer(numFeatures, 'Name', 'in'); rnn; dropoutLayer(opt.Dropout, 'Name', 'drop'); ...
     fullyConnectedLayer(numClasses, 'Name', 'fc'); softmaxLayer('Name', 'sm'); classificationLayer('Name', 'out')], ...
    options);
end
