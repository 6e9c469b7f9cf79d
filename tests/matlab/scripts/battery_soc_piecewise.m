% Pattern: MathWorks "Predict Battery State of Charge Using Deep Learning" (LG HG2 data, McMaster University),
% trainNetwork version: one long training sequence of 5 normalized features (voltage, current, temperature,
% average voltage and current), validation on the drive cycles at four temperatures, a per-time-step network
% ending in clippedReluLayer(1) (the SOC lies in [0 1]), piecewise learning-rate drops, RMSE plots afterwards.
filename = matlab.internal.examples.downloadSupportFile("nnet","data/LGHG2@n10C_to_25degC.zip");
filepath = fileparts(filename);
dataFolder = fullfile(filepath,"LGHG2@n10C_to_25degC");
unzip(filename,dataFolder)

trainingFile = fullfile(dataFolder,"Train","TRAIN_LGHG2@n10degC_to_25degC_Norm_5Inputs.mat");
load(trainingFile);
XTrain = X;
YTrain = Y;

testFiles = ["01_TEST_LGHG2@n10degC_Norm_(05_Inputs).mat" "02_TEST_LGHG2@0degC_Norm_(05_Inputs).mat" ...
    "03_TEST_LGHG2@10degC_Norm_(05_Inputs).mat" "04_TEST_LGHG2@25degC_Norm_(05_Inputs).mat"];
temperatures = ["n10degC" "0degC" "10degC" "25degC"];
XVal = cell(1,numel(testFiles));
YVal = cell(1,numel(testFiles));
for k = 1:numel(testFiles)
    S = load(fullfile(dataFolder,"Test",testFiles(k)));
    XVal{k} = S.X;
    YVal{k} = S.Y;
end

figure
plot(YTrain)
xlabel("Time (s)")
ylabel("SOC")

%% Define Network Architecture
numFeatures = size(XTrain,1);
numResponses = size(YTrain,1);
numHiddenNeurons = 55;

layers = [
    sequenceInputLayer(numFeatures,"Normalization","zerocenter")
    fullyConnectedLayer(numHiddenNeurons)
    tanhLayer
    fullyConnectedLayer(numHiddenNeurons)
    leakyReluLayer(0.3)
    fullyConnectedLayer(numResponses)
    clippedReluLayer(1)
    regressionLayer];

Epochs = 1200;
InitialLearnRate = 0.01;
LearnRateDropPeriod = 400;
LearnRateDropFactor = 0.1;
validationFrequency = 50;

options = trainingOptions("adam", ...
    "MaxEpochs",Epochs, ...
    "GradientThreshold",1, ...
    "InitialLearnRate",InitialLearnRate, ...
    "LearnRateSchedule","piecewise", ...
    "LearnRateDropPeriod",LearnRateDropPeriod, ...
    "LearnRateDropFactor",LearnRateDropFactor, ...
    "L2Regularization",1, ...
    "ValidationData",{XVal{1},YVal{1}}, ...
    "ValidationFrequency",validationFrequency, ...
    "Shuffle","every-epoch", ...
    "Verbose",0, ...
    "Plots","training-progress");

net = trainNetwork(XTrain,YTrain,layers,options);

%% Test the Network
YPred = cell(1,numel(XVal));
rmse = zeros(1,numel(XVal));
for k = 1:numel(XVal)
    YPred{k} = predict(net,XVal{k});
    rmse(k) = sqrt(mean((YPred{k} - YVal{k}).^2));
end

figure
bar(rmse)
xticklabels(temperatures)
ylabel("RMSE")

figure
for k = 1:numel(XVal)
    subplot(2,2,k)
    plot(YVal{k}); hold on; plot(YPred{k}); hold off
    title("Temperature: " + temperatures(k))
    legend(["True" "Predicted"],Location="southwest")
end
