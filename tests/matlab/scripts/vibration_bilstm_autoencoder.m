% Pattern: MathWorks "Anomaly Detection in Industrial Machinery Using Three-Axis Vibration Data" (Predictive
% Maintenance Toolbox), its LSTM autoencoder part moved to trainnet: features of the normal (after-maintenance)
% data arranged as one sequence per observation, a bilstm encoder/decoder reconstructing its input
% (sequence-to-sequence regression, "mse"), reconstruction errors and a threshold afterwards.
load("FeatureEntire.mat")
head(featureAll)

rng(0) % set for reproducibility
idx = cvpartition(featureAll.label, 'holdout', 0.1);
featureTrain = featureAll(idx.training, :);
featureTest = featureAll(idx.test, :);

% Train on the normal data only: the observations after maintenance.
featuresAfter = helperExtractLabeledData(featureTrain, "After");

% Each observation is a 1-by-numFeatures sequence; the autoencoder reconstructs it.
numChannels = size(featuresAfter{1},1);

layers = [ sequenceInputLayer(numChannels, Name="in")
    bilstmLayer(16, Name="bilstm1")
    reluLayer(Name="relu1")
    bilstmLayer(32, Name="bilstm2")
    reluLayer(Name="relu2")
    bilstmLayer(16, Name="bilstm3")
    reluLayer(Name="relu3")
    fullyConnectedLayer(numChannels, Name="fc") ];

options = trainingOptions("adam", ...
    Plots="training-progress", ...
    MiniBatchSize=500, ...
    MaxEpochs=200, ...
    Verbose=false);

net = trainnet(featuresAfter, featuresAfter, layers, "mse", options);

% Reconstruction errors before and after maintenance.
XTestBefore = helperExtractLabeledData(featureTest, "Before");
yHatBefore = minibatchpredict(net, XTestBefore, UniformOutput=false);
errorBefore = helperCalculateError(XTestBefore, yHatBefore);

XTestAfter = helperExtractLabeledData(featureTest, "After");
yHatAfter = minibatchpredict(net, XTestAfter, UniformOutput=false);
errorAfter = helperCalculateError(XTestAfter, yHatAfter);

figure
plot(errorBefore); hold on; plot(errorAfter); hold off
legend("Before maintenance", "After maintenance")
ylabel("Reconstruction Error")

thresh = 0.5;
errorAll = [errorBefore; errorAfter];
anomalies = errorAll > thresh*mean(errorAll);
fprintf("%d candidate anomalies\n", nnz(anomalies));

%% Supporting Functions
function E = helperCalculateError(X, Y)
E = zeros(length(X),1);
for i = 1:length(X)
    E(i,:) = sqrt(sum((Y{i} - X{i}).^2));
end
end

function X = helperExtractLabeledData(featureTable, label)
if label == "All"
    Xtemp = featureTable(:, 2:end).Variables;
else
    tF = featureTable.label == label;
    Xtemp = featureTable(tF, 2:end).Variables;
end
X = cell(length(Xtemp),1);
for i = 1:length(Xtemp)
    X{i,:} = Xtemp(i,:);
end
end
