%{
Pattern: GRU classifiers in public code (GitHub .m files with gruLayer(...)): two stacked GRU layers with dropout,
sizes from the data, options written Name=value and 'Name',value mixed, a block comment and line continuations.
%}
clear; close all; clc;
load('sensorData.mat')            % X: cell of C-by-T sequences, Y: labels

numFeatures = size(X{1}, 1);      % channels
classNames  = unique(Y);
numClasses  = numel(classNames);

hidden1 = 128;   hidden2 = 64;
dropProb = 0.2;

layers = [ sequenceInputLayer(numFeatures, "Name", "in")
           gruLayer(hidden1, OutputMode="sequence", Name="gru1")
           dropoutLayer(dropProb, 'Name', 'drop1')
           gruLayer(hidden2, ...
                    'OutputMode', 'last', ...   % keep the final step
                    'Name', 'gru2')
           dropoutLayer(dropProb, 'Name', 'drop2')
           fullyConnectedLayer(numClasses, 'Name', 'fc')
           softmaxLayer('Name', 'softmax')
           classificationLayer('Name', 'output') ];

analyzeNetwork(layers)
opts = trainingOptions('rmsprop', 'MaxEpochs', 30, 'MiniBatchSize', 64, ...
                       'Shuffle', 'every-epoch', 'Verbose', true);
[net, info] = trainNetwork(X, categorical(Y), layers, opts);
fprintf('Final training accuracy: %.2f\n', info.TrainingAccuracy(end));
save('gruModel.mat', 'net');
