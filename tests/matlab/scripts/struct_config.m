% Pattern: research code that keeps hyperparameters in a struct (cfg.numHiddenUnits, cfg.dropout ...) and
% builds the array in a for loop over cfg.layerSizes; any field can be overridden with --set cfg.FIELD=VALUE.
cfg = struct();
cfg.numHiddenUnits = 128;
cfg.layerSizes = [cfg.numHiddenUnits cfg.numHiddenUnits/2];
cfg.dropout = 0.3;
cfg.maxEpochs = 80;
cfg.numFeatures = size(XTrain{1}, 1);
cfg.numClasses = numel(unique(YTrain));

layers = sequenceInputLayer(cfg.numFeatures, 'Name', 'input');
for k = 1:numel(cfg.layerSizes)
    if k < numel(cfg.layerSizes)
        mode = 'sequence';
    else
        mode = 'last';
    end
    layers = [layers
        lstmLayer(cfg.layerSizes(k), 'OutputMode', mode, 'Name', sprintf('lstm%d', k))
        dropoutLayer(cfg.dropout, 'Name', ['drop' num2str(k)])]; %#ok<AGROW>
end
layers = [layers
    fullyConnectedLayer(cfg.numClasses, 'Name', 'fc')
    softmaxLayer('Name', 'sm')
    classificationLayer('Name', 'out')];

opts = trainingOptions('adam', 'MaxEpochs', cfg.maxEpochs);
net = trainNetwork(XTrain, YTrain, layers, opts);
