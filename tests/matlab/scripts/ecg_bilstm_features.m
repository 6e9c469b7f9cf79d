% Pattern: MathWorks "Classify ECG Signals Using Long Short-Term Memory Networks" (PhysioNet AF data): the same
% variable 'layers' assigned twice (raw signal, then two time-frequency features); feature cells joined with a
% two-input cellfun; mean/std over [XTrain2{:}] for standardisation; the last assignment is the one built.
load PhysionetData
Signals(1:5)'
Labels(1:5)'
summary(Labels)

L = cellfun(@length,Signals);
h = histogram(L);
xlabel('Signal Length')
ylabel('Count')

[Signals,Labels] = segmentSignals(Signals,Labels);
afibX = Signals(Labels=='A');
normalX = Signals(Labels=='N');

XTrain = [repmat(afibX(1:634),7,1); normalX(1:4438)];
YTrain = [repmat(afibY(1:634),7,1); normalY(1:4438)];

layers = [ ...
    sequenceInputLayer(1)
    bilstmLayer(100,'OutputMode','last')
    fullyConnectedLayer(2)
    softmaxLayer
    classificationLayer
    ]

options = trainingOptions('adam', ...
    'MaxEpochs',10, ...
    'MiniBatchSize', 150, ...
    'InitialLearnRate', 0.01, ...
    'SequenceLength', 1000, ...
    'GradientThreshold', 1, ...
    'ExecutionEnvironment',"auto",...
    'plots','training-progress', ...
    'Verbose',false);
net = trainNetwork(XTrain,YTrain,layers,options);

fs = 300;
instfreqTrain = cellfun(@(x)instfreq(x,fs)',XTrain,'UniformOutput',false);
pentropyTrain = cellfun(@(x)pentropy(x,fs)',XTrain,'UniformOutput',false);
XTrain2 = cellfun(@(x,y)[x;y],instfreqTrain,pentropyTrain,'UniformOutput',false);

mu = mean([XTrain2{:}],2);
sg = std([XTrain2{:}],[],2);
XTrainSD = XTrain2;
XTrainSD = cellfun(@(x)(x-mu)./sg,XTrainSD,'UniformOutput',false);

numFeatures = size(XTrainSD{1}, 1);

layers = [ ...
    sequenceInputLayer(numFeatures)
    bilstmLayer(100,'OutputMode','last')
    fullyConnectedLayer(2)
    softmaxLayer
    classificationLayer
    ];

options = trainingOptions('adam', ...
    'MaxEpochs',30, ...
    'MiniBatchSize', 150, ...
    'InitialLearnRate', 0.01, ...
    'GradientThreshold', 1, ...
    'ExecutionEnvironment',"auto",...
    'plots','training-progress', ...
    'Verbose',false);
net2 = trainNetwork(XTrainSD,YTrain,layers,options);
