"""int8 against float32 in the runtime, next to torch float32 and torch dynamic int8, measured in the same run.

    python bench/quantize_bench.py [--quick] [--runs N] [--batch-only]

(1) batch calls on runtime_bench's shapes (I, H, T, B), sequence output: lstm2onnx_runtime.predict on the
    float32 model and on its int8 version (lstm2onnx.quantize: onnxruntime's dynamic quantization), next to
    torch.nn.LSTM in float32 and after torch.ao.quantization.quantize_dynamic (int8 weights); the max abs
    difference int8 - float32 on the same input; and, as a check on our graph, the speedup that
    onnxruntime.quantization.quantize_dynamic gives on runtime_bench's bare LSTM-op graph (X [T, B, I] -> Y,
    no Transpose/Squeeze, raw session.run), timed in the same interleaved rounds;
(2) one stream, one time step per call (I=12, 1 intra-op thread): Stream.step, float32 vs int8;
(3) the shipped Japanese Vowels classifier: test accuracy, float32 vs int8 (per tensor and per channel),
    label agreement, and classify's time at MiniBatchSize 27 and 370.

Prints medians of interleaved timings (runtime_bench.compare) and ratios; nothing is asserted. CPU only:
onnxruntime's DynamicQuantizeLSTM has no CUDA kernel.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import warnings

import numpy as np
import onnxruntime as ort

import lstm2onnx_runtime as rt
from lstm2onnx import japaneseVowelsTestData
from lstm2onnx.quantize import _without_preprocessing_hint, quantize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runtime_bench import bare_lstm_model, build_model, compare, options, torch, torch_time  # noqa: E402

SHAPES = [(12, 100, 20, 1), (12, 100, 20, 370), (64, 256, 100, 64), (128, 512, 200, 32)]  # as runtime_bench (1)
JAPANESE_VOWELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "japanese_vowels", "japanese_vowels.onnx")


def int8_copy(path: str, per_channel: bool = False) -> str:
    target = path.replace(".onnx", "_int8_pc.onnx" if per_channel else "_int8.onnx")
    quantize(path, target, per_channel=per_channel)
    return target


def bare_pair(folder: str, I: int, H: int) -> dict[str, ort.InferenceSession]:
    """runtime_bench's bare LSTM-op graph and onnxruntime's quantize_dynamic of it (LSTM only, int8 weights, as quantize asks)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = os.path.join(folder, f"bare_{I}_{H}.onnx")
    with open(path, "wb") as handle:
        handle.write(bare_lstm_model(I, H))
    target = path.replace(".onnx", "_int8.onnx")
    with _without_preprocessing_hint():
        quantize_dynamic(path, target, op_types_to_quantize=["LSTM"], weight_type=QuantType.QInt8)
    return {tag: ort.InferenceSession(p, options(), providers=["CPUExecutionProvider"]) for tag, p in (("bare f32", path), ("bare int8", target))}


def torch_pair(I: int, H: int, X: np.ndarray, seconds: float) -> tuple[float, float]:
    """torch.nn.LSTM float32 and its dynamic int8 version (torch.ao.quantization.quantize_dynamic): seconds per call."""
    if torch is None:
        return float("nan"), float("nan")
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(I, H, batch_first=True).eval()
    with warnings.catch_warnings():  # torch 2.x announces torch.ao.quantization's move to torchao; the API still runs
        warnings.simplefilter("ignore", DeprecationWarning)
        int8 = torch.ao.quantization.quantize_dynamic(lstm, {torch.nn.LSTM}, dtype=torch.qint8)
    Xt = torch.from_numpy(X)

    def call(module):
        def run():
            with torch.no_grad():
                return module(Xt)[0]

        return run

    return torch_time(call(lstm), seconds), torch_time(call(int8), seconds)


def batch_calls(folder: str, seconds: float, runs: int = 1) -> None:
    print("(1) batch calls: ms per call (sequence output); speedup = float32 / int8" + (f"; {runs} runs, then their medians" if runs > 1 else ""))
    print(f"{'I,H,T,B':>18} {'rt f32':>9} {'rt int8':>9} {'speedup':>8} {'max|diff|':>10} {'bare speedup':>13} {'torch f32':>10} "
          f"{'torch int8':>11} {'speedup':>8} {'rt int8/torch int8':>19}")
    speedups: dict[tuple, list[tuple[float, float]]] = {}
    for I, H, T, B in [shape for _ in range(runs) for shape in SHAPES]:
        X = np.random.default_rng(0).standard_normal((B, T, I)).astype(np.float32)
        path = build_model(folder, I, H, stateful=False)
        nets = {tag: rt.load(p, "cpu", session_options=options()) for tag, p in (("f32", path), ("int8", int8_copy(path)))}
        diff = float(np.abs(rt.predict(nets["int8"], X, MiniBatchSize=B) - rt.predict(nets["f32"], X, MiniBatchSize=B)).max())
        X_tm = np.ascontiguousarray(X.transpose(1, 0, 2))
        fns = {tag: (lambda net=net: rt.predict(net, X, MiniBatchSize=B)) for tag, net in nets.items()}
        fns.update({tag: (lambda s=s: s.run(None, {"X": X_tm})) for tag, s in bare_pair(folder, I, H).items()})
        t = compare(fns, seconds * 4, rounds=11)
        t_torch, t_torch8 = torch_pair(I, H, X, seconds)
        print(f"{f'{I},{H},{T},{B}':>18} {1e3 * t['f32']:9.3f} {1e3 * t['int8']:9.3f} {t['f32'] / t['int8']:8.2f} {diff:10.2e} "
              f"{t['bare f32'] / t['bare int8']:13.2f} {1e3 * t_torch:10.3f} {1e3 * t_torch8:11.3f} {t_torch / t_torch8:8.2f} {t['int8'] / t_torch8:19.3f}")
        speedups.setdefault((I, H, T, B), []).append((t["f32"] / t["int8"], t["bare f32"] / t["bare int8"]))
    if runs > 1:
        print("    medians over the runs: speedup (bare graph's speedup)")
        for (I, H, T, B), pairs in speedups.items():
            print(f"{f'{I},{H},{T},{B}':>18} {statistics.median(p[0] for p in pairs):8.2f} ({statistics.median(p[1] for p in pairs):.2f}); "
                  f"runs: {', '.join(f'{p[0]:.2f}' for p in pairs)}")


def streaming(folder: str, seconds: float) -> None:
    print("\n(2) one stream, one time step per call: µs per step (I=12, 1 intra-op thread)")
    print(f"{'H':>5} {'f32 Stream.step':>16} {'int8 Stream.step':>17} {'speedup':>8}")
    x = np.random.default_rng(0).standard_normal((1, 12)).astype(np.float32)
    for H in (100, 256):
        path = build_model(folder, 12, H, stateful=True)
        streams = {tag: rt.StreamPool(rt.load(p, "cpu", session_options=options(1))).open() for tag, p in (("f32", path), ("int8", int8_copy(path)))}
        t = compare({tag: (lambda s=s: s.step(x)) for tag, s in streams.items()}, seconds * 2)
        print(f"{H:5d} {1e6 * t['f32']:16.2f} {1e6 * t['int8']:17.2f} {t['f32'] / t['int8']:8.2f}")


def japanese_vowels(folder: str, seconds: float) -> None:
    print("\n(3) Japanese Vowels (370 test sequences): accuracy and classify time, float32 vs int8")
    X, Y = japaneseVowelsTestData()
    X = [x.astype(np.float32) for x in X]
    paths = {"float32": JAPANESE_VOWELS}
    for per_channel in (False, True):
        local = os.path.join(folder, "japanese_vowels.onnx")
        with open(JAPANESE_VOWELS, "rb") as source, open(local, "wb") as copy:
            copy.write(source.read())
        paths["int8 per channel" if per_channel else "int8"] = int8_copy(local, per_channel)
    nets = {tag: rt.load(p, "cpu", session_options=options()) for tag, p in paths.items()}
    labels = {tag: rt.classify(net, X, MiniBatchSize=27)[0] for tag, net in nets.items()}
    scores = {tag: rt.predict(net, X, MiniBatchSize=27) for tag, net in nets.items()}
    print(f"{'model':>18} {'accuracy':>9} {'agreement':>10} {'max|dp|':>9} {'ms @27':>8} {'ms @370':>8}")
    times = {size: compare({tag: (lambda net=net, size=size: rt.classify(net, X, MiniBatchSize=size)) for tag, net in nets.items()},
                           seconds * 2) for size in (27, 370)}
    for tag in nets:
        print(f"{tag:>18} {np.mean(labels[tag] == Y):9.4f} {np.mean(labels[tag] == labels['float32']):10.4f} "
              f"{np.abs(scores[tag] - scores['float32']).max():9.2e} {1e3 * times[27][tag]:8.3f} {1e3 * times[370][tag]:8.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timings (noisier)")
    parser.add_argument("--torch-threads", type=int, help="torch intra-op threads (default: torch's, one per core)")
    parser.add_argument("--runs", type=int, default=1, help="repeat (1) this many times and print the median speedups (a shared machine's load drifts)")
    parser.add_argument("--batch-only", action="store_true", help="only (1)")
    args = parser.parse_args()
    if args.torch_threads and torch is not None:
        torch.set_num_threads(args.torch_threads)
    seconds = 0.5 if args.quick else 2.0
    engine = torch.backends.quantized.engine if torch is not None else "-"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}; python {sys.version.split()[0]}, "
          f"onnxruntime {ort.__version__}, numpy {np.__version__}, torch {torch.__version__ if torch else 'not installed'} "
          f"(quantized engine {engine}, {torch.get_num_threads() if torch else 0} threads)\n")
    with tempfile.TemporaryDirectory() as folder:
        batch_calls(folder, seconds, max(1, args.runs))
        if not args.batch_only:
            streaming(folder, seconds)
            japanese_vowels(folder, seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
