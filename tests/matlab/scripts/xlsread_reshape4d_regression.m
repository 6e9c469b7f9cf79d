%%  Pattern: the regression template widely shared on public repositories and blogs (an .xlsx sheet, one
%   sample per row, the last column the output): a random 70/30 split with randperm, mapminmax on rows
%   after transposing, the samples reshaped to f_-by-1-by-1-by-M and copied into a cell one by one with
%   Lp_train{i, 1} = p_train(:, :, 1, i), sizes from the data, then training and error metrics.
warning off             % turn off warnings
close all               % close figures
clear                   % clear variables
clc                     % clear the command window

%%  read the data
res = xlsread('数据集.xlsx');

%%  split into training and test sets
temp = randperm(103);

P_train = res(temp(1: 80), 1: 7)';
T_train = res(temp(1: 80), 8)';
M = size(P_train, 2);

P_test = res(temp(81: end), 1: 7)';
T_test = res(temp(81: end), 8)';
N = size(P_test, 2);

%%  normalise
[P_train, ps_input] = mapminmax(P_train, 0, 1);
P_test = mapminmax('apply', P_test, ps_input);

[t_train, ps_output] = mapminmax(T_train, 0, 1);
t_test = mapminmax('apply', T_test, ps_output);

%%  flatten the data
P_train =  double(reshape(P_train, 7, 1, 1, M));
P_test  =  double(reshape(P_test , 7, 1, 1, N));

t_train = t_train';
t_test  = t_test' ;

%%  data format
for i = 1 : M
    p_train{i, 1} = P_train(:, :, 1, i);
end

for i = 1 : N
    p_test{i, 1}  = P_test( :, :, 1, i);
end

%%  build the model
f_ = size(p_train{1}, 1);
layers = [
    sequenceInputLayer(f_)              % input layer

    lstmLayer(6, 'OutputMode', 'last')  % LSTM layer
    reluLayer                           % ReLU activation

    fullyConnectedLayer(1)              % fully connected layer
    regressionLayer];                   % regression layer

%%  options
options = trainingOptions('adam', ...      % Adam
    'MaxEpochs', 1200, ...                 % maximum epochs
    'InitialLearnRate', 5e-3, ...          % initial learning rate
    'LearnRateSchedule', 'piecewise', ...  % learning-rate drop
    'LearnRateDropFactor', 0.1, ...        % drop factor
    'LearnRateDropPeriod', 800, ...        % after 800 epochs
    'Shuffle', 'every-epoch', ...          % shuffle
    'Plots', 'training-progress', ...      % training curves
    'Verbose', false);

%%  train and predict
net = trainNetwork(p_train, t_train, layers, options);
t_sim1 = predict(net, p_train);
t_sim2 = predict(net, p_test );

T_sim1 = mapminmax('reverse', t_sim1, ps_output);
T_sim2 = mapminmax('reverse', t_sim2, ps_output);

error1 = sqrt(sum((T_sim1' - T_train).^2) ./ M);
error2 = sqrt(sum((T_sim2' - T_test ).^2) ./ N);

analyzeNetwork(layers)
figure
plot(1: M, T_train, 'r-*', 1: M, T_sim1, 'b-o', 'LineWidth', 1)
legend('true', 'predicted')
string = {'training set'; ['RMSE=' num2str(error1)]};
title(string)
