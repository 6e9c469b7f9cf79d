% Pattern: Deep Network Designer "Export > Generate Code" for a GRU sequence-to-one regression network, pasted
% into a training script (R2020b-R2023a style): every layer named, the pieces added to a layerGraph one after
% another, connectLayers joining them (not in the order they were added), then trainNetwork on the graph.
load("trafficData.mat")   % XTrain: cell of C-by-T sequences, YTrain: one response per sequence
numFeatures = size(XTrain{1},1);
numResponses = size(YTrain,2);

%% Create Layer Graph
% Create the layer graph variable to contain the network layers.
lgraph = layerGraph();

%% Add Layer Branches
% Add the branches of the network to the layer graph. Each branch is a linear array of layers.
tempLayers = sequenceInputLayer(numFeatures,"Name","sequence","Normalization","zscore");
lgraph = addLayers(lgraph,tempLayers);

tempLayers = [
    gruLayer(128,"Name","gru_1")
    dropoutLayer(0.2,"Name","dropout_1")
    gruLayer(64,"Name","gru_2","OutputMode","last")];
lgraph = addLayers(lgraph,tempLayers);

tempLayers = [
    fullyConnectedLayer(32,"Name","fc_1")
    reluLayer("Name","relu")
    fullyConnectedLayer(numResponses,"Name","fc_2")
    regressionLayer("Name","regressionoutput")];
lgraph = addLayers(lgraph,tempLayers);

% clean up helper variable
clear tempLayers;

%% Connect Layer Branches
% Connect all the branches of the network to create the network graph.
lgraph = connectLayers(lgraph,"gru_2","fc_1");
lgraph = connectLayers(lgraph,"sequence","gru_1");

%% Plot Layers
plot(lgraph);
analyzeNetwork(lgraph)

opts = trainingOptions("adam", ...
    "ExecutionEnvironment","auto", ...
    "InitialLearnRate",0.001, ...
    "MaxEpochs",50, ...
    "MiniBatchSize",32, ...
    "Shuffle","every-epoch", ...
    "Plots","training-progress");

[net, traininfo] = trainNetwork(XTrain,YTrain,lgraph,opts);
