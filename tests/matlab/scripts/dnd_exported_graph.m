% Pattern: code exported by Deep Network Designer ("Generate Code"), pasted into a training script: an empty
% layerGraph, layer pieces added as tempLayers, "clear tempLayers", connectLayers joining the pieces into a chain.
load("gestures.mat")   % XTrain: cell of C-by-T, YTrain: labels
numFeatures = size(XTrain{1}, 1);
numClasses = numel(unique(YTrain));

%% Create Layer Graph
% Create the layer graph variable to contain the network layers.
lgraph = layerGraph();

%% Add Layer Branches
% Add the branches of the network to the layer graph. Each branch is a linear array of layers.
tempLayers = [
    sequenceInputLayer(numFeatures,"Name","sequence")
    bilstmLayer(128,"Name","bilstm","OutputMode","last")];
lgraph = addLayers(lgraph,tempLayers);

tempLayers = [
    dropoutLayer(0.3,"Name","dropout")
    fullyConnectedLayer(numClasses,"Name","fc")
    softmaxLayer("Name","softmax")
    classificationLayer("Name","classoutput")];
lgraph = addLayers(lgraph,tempLayers);

% clean up helper variable
clear tempLayers;

%% Connect Layer Branches
% Connect all the branches of the network to create the network graph.
lgraph = connectLayers(lgraph,"bilstm","dropout");

%% Plot Layers
plot(lgraph);

options = trainingOptions("adam", "MaxEpochs", 20, "Plots", "training-progress");
net = trainNetwork(XTrain, categorical(YTrain), lgraph, options);
