"""Training speed, measured against plain torch in the same process.

    python bench/training_bench.py [--epochs 5]

(1) seconds per epoch on Japanese Vowels (LSTM 12->100 'last', Linear 100->9, Adam, batch 27,
    gradient threshold 1, L2 regularization 1e-4 as MATLAB's default): trainNetwork vs the
    plainest exact hand-written torch loop (each mini-batch padded to its longest sequence, the
    output read at each sequence's last valid step: exact for a unidirectional LSTM, since right
    padding never reaches earlier steps), and the same loop on packed sequences. Both draw the
    same mini-batches (Shuffle 'every-epoch': one permutation per epoch from the same seeded
    generator), run the same number of epochs, in the same process, after a warm-up run each;
    trainNetwork's time includes its setup (checks, initialization), the plain loop's its own;
(2) forward+backward of the custom-activation cell (hard-sigmoid/softsign) vs torch.nn.LSTM.

Prints medians and ratios; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from lstm2onnx import (
    classificationLayer,
    fullyConnectedLayer,
    initialize,
    japaneseVowelsTrainData,
    lstmLayer,
    sequenceInputLayer,
    softmaxLayer,
    trainingOptions,
    trainNetwork,
)
from lstm2onnx.training.torch_net import CellLSTM, TorchLSTM


def batches(X, Y, size, rng):
    order = rng.permutation(len(X))
    for b in range(len(X) // size):
        idx = order[b * size : (b + 1) * size]
        lengths = np.array([len(X[i]) for i in idx])
        x = np.zeros((size, lengths.max(), 12), np.float32)
        for j, i in enumerate(idx):
            x[j, : lengths[j]] = X[i]
        yield torch.from_numpy(x), torch.from_numpy(lengths), torch.from_numpy(Y[idx])


def clock() -> tuple[float, float]:
    """(wall-clock, CPU time of the whole process) in seconds."""
    return time.perf_counter(), time.process_time()


def per_epoch(start: tuple[float, float], epochs: int) -> tuple[float, float]:
    now = clock()
    return (now[0] - start[0]) / epochs, (now[1] - start[1]) / epochs


def plain_epochs(X, Y, epochs: int, packed: bool) -> tuple[float, float]:
    """The loop a torch user writes by hand: (wall, CPU) seconds per epoch, its setup included."""
    start = clock()
    torch.manual_seed(0)
    lstm, fc = torch.nn.LSTM(12, 100, batch_first=True), torch.nn.Linear(100, 9)
    lstm.bias_hh_l0.requires_grad_(False)  # one LSTM bias, as MATLAB's (and trainNetwork's) five learnables
    params = [p for p in (*lstm.parameters(), *fc.parameters()) if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    rng = np.random.default_rng(0)
    for _ in range(epochs):
        for x, lengths, y in batches(X, Y, 27, rng):
            optimizer.zero_grad()
            if packed:
                _, (h, _) = lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
                last = h[0]
            else:
                last = lstm(x)[0][torch.arange(len(lengths)), lengths - 1]
            loss = torch.nn.functional.cross_entropy(fc(last), y)
            loss.backward()
            for p in params:  # coupled L2 (MATLAB's L2Regularization 1e-4, before clipping)
                p.grad.add_(p, alpha=1e-4)
            for p in params:  # per-learnable l2norm clipping at 1, as GradientThreshold=1 does
                norm = p.grad.norm()
                if norm > 1:
                    p.grad.mul_(1 / norm)
            optimizer.step()
    return per_epoch(start, epochs)


def ours_epochs(X, Y, epochs: int) -> tuple[float, float]:
    """trainNetwork: (wall, CPU) seconds per epoch, its setup (checks, initialization) included."""
    layers = [sequenceInputLayer(12), lstmLayer(100, OutputMode="last"), fullyConnectedLayer(9), softmaxLayer(), classificationLayer()]
    options = trainingOptions("adam", MaxEpochs=epochs, MiniBatchSize=27, GradientThreshold=1, Shuffle="every-epoch", Verbose=False,
                              ExecutionEnvironment="cpu")
    start = clock()
    trainNetwork(X, Y, layers, options)
    return per_epoch(start, epochs)


def cell_vs_lstm(rounds: int = 5) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((27, 20, 12)).astype(np.float32))
    lengths = torch.from_numpy(rng.integers(7, 21, size=27))
    lengths[0] = 20
    default = initialize([sequenceInputLayer(12), lstmLayer(100)], 0)[1]
    other = initialize([sequenceInputLayer(12), lstmLayer(100, GateActivationFunction="hard-sigmoid", StateActivationFunction="softsign")], 0)[1]
    times = {}
    for name, module in (("nn.LSTM", TorchLSTM(default, "matlab")), ("cell", CellLSTM(other, "matlab"))):
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(10):
                y, _, _ = module(x, lengths)  # (output, is_sequence, final states)
                y.sum().backward()
            samples.append((time.perf_counter() - start) / 10)
        times[name] = statistics.median(samples)
    return times["cell"], times["nn.LSTM"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians are printed")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's, one per core)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    X, labels = japaneseVowelsTrainData()
    Y = np.array([int(v) - 1 for v in labels])
    ours_epochs(X, labels, 1)  # warm-up: first calls into torch's kernels, imports
    plain_epochs(X, Y, 1, packed=False)
    plain_epochs(X, Y, 1, packed=True)
    runs = {"ours": [], "padded": [], "packed": []}
    for _ in range(args.rounds):  # interleaved rounds against drift
        runs["ours"].append(ours_epochs(X, labels, args.epochs))
        runs["padded"].append(plain_epochs(X, Y, args.epochs, packed=False))
        runs["packed"].append(plain_epochs(X, Y, args.epochs, packed=True))
    print(f"(1) Japanese Vowels, seconds per epoch (10 iterations of 27 sequences, {args.epochs} epochs a run), median of "
          f"{args.rounds} interleaved rounds; wall clock, and CPU time of the process (all threads: less sensitive to other "
          "jobs on the machine, as long as torch runs one thread)")
    for k, clock_name in enumerate(("wall", "CPU")):
        ours, padded, packed = ([run[k] for run in runs[name]] for name in ("ours", "padded", "packed"))
        t_ours, t_padded, t_packed = map(statistics.median, (ours, padded, packed))
        print(f"  {clock_name}: trainNetwork                                  {t_ours:.4f}")
        print(f"  {clock_name}: plain torch loop, padded, last valid step     {t_padded:.4f}   trainNetwork / plain padded = "
              f"{t_ours / t_padded:.3f} (best rounds {min(ours) / min(padded):.3f})")
        print(f"  {clock_name}: plain torch loop, packed                      {t_packed:.4f}   trainNetwork / plain packed = {t_ours / t_packed:.3f}")
    t_cell, t_lstm = cell_vs_lstm()
    print("\n(2) forward+backward, batch 27, T <= 20, I=12, H=100")
    print(f"    custom cell (hard-sigmoid/softsign) {1e3 * t_cell:.2f} ms   torch.nn.LSTM {1e3 * t_lstm:.2f} ms   ratio {t_cell / t_lstm:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
