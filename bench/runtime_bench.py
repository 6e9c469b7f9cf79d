"""Runtime speed, measured against baselines in the same process.

    python bench/runtime_bench.py [--quick] [--provider cpu|cuda]

(1) batch calls: lstm2onnx_runtime.predict on an lstm2onnx model vs a raw
    onnxruntime session on a graph holding only the LSTM op vs torch.nn.LSTM eager;
(2) one stream, one time step per call: Stream.step vs the best raw onnxruntime
    method (IOBinding pre-bound to two ping-ponged state buffers, on the device the
    model runs on, same model)
    vs plain session.run feeding the state back vs torch.nn.LSTM / LSTMCell;
(3) N streams advanced one step together: a StreamGroup (pre-bound, no per-stream work),
    StreamPool.step with a {stream: chunk} dict, and a raw session.run on the same model;
(4) MATLAB-style classify on a list of ragged sequences vs padding by hand + a raw session.run.

Prints medians of repeated timings and the ratios; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

import lstm2onnx_runtime as rt
from lstm2onnx import exportONNXNetwork, lstmLayer, sequenceInputLayer

try:
    import torch
except ImportError:  # the torch columns are skipped
    torch = None


def compare(fns: dict, seconds: float, rounds: int = 7) -> dict:
    """Median seconds per call of each function, measured interleaved (A, B, C, A, B, C, ...).

    Interleaving makes the ratios robust against the machine's speed drifting
    during the run (shared cores); each round runs each function for about
    ``seconds / rounds / len(fns)``.
    """
    counts = {}
    for name, fn in fns.items():
        fn()
        start = time.perf_counter()
        fn()
        counts[name] = max(1, int(seconds / rounds / len(fns) / max(time.perf_counter() - start, 1e-7)))
    samples: dict = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            n = counts[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - start) / n)
    return {name: statistics.median(values) for name, values in samples.items()}


def bare_lstm_model(I: int, H: int) -> bytes:
    """A graph holding only the LSTM op: X [T, B, I] -> Y [T, 1, B, H]."""
    rng = np.random.default_rng(0)
    W = helper.make_tensor("W", TensorProto.FLOAT, [1, 4 * H, I], rng.uniform(-0.1, 0.1, 4 * H * I).astype(np.float32).tobytes(), raw=True)
    R = helper.make_tensor("R", TensorProto.FLOAT, [1, 4 * H, H], rng.uniform(-0.1, 0.1, 4 * H * H).astype(np.float32).tobytes(), raw=True)
    node = helper.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=H)
    graph = helper.make_graph([node], "bare", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", I])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["T", 1, "B", H])], [W, R])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def options(threads: int | None = None) -> ort.SessionOptions:
    """Session options for every onnxruntime session here: no spin-waiting, so that sessions measured
    one after the other do not steal the 2 cores from each other (or from torch)."""
    opts = ort.SessionOptions()
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        opts.intra_op_num_threads = threads
    return opts


def session(model: bytes | str, providers: list[str], threads: int | None = None) -> ort.InferenceSession:
    return ort.InferenceSession(model, options(threads), providers=providers)


def torch_device(provider: str):
    """Where torch runs for the comparison: the GPU when onnxruntime does (TF32 off there too, as in the runtime)."""
    if provider == "cuda" and torch.cuda.is_available():
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        return torch.device("cuda")
    return torch.device("cpu")


def torch_time(fn, seconds: float) -> float:
    """torch timed on its own (not interleaved with onnxruntime: the two thread pools would compete)."""
    return compare({"torch": fn}, seconds)["torch"]


def build_model(folder: str, I: int, H: int, *, stateful: bool, mode: str = "sequence") -> str:
    path = os.path.join(folder, f"lstm_{I}_{H}_{stateful}_{mode}.onnx")
    exportONNXNetwork([sequenceInputLayer(I), lstmLayer(H, OutputMode=mode)], path, stateful=stateful)
    return path


def batch_calls(folder: str, provider: str, seconds: float) -> None:
    print("(1) batch calls: ms per call (sequence output, float32)")
    print("    runtime: predict with the default NaN/Inf check; no-check: loaded with nan_policy='allow'")
    print(f"{'I,H,T,B':>18} {'runtime':>9} {'no-check':>9} {'bare LSTM':>10} {'torch':>9} {'rt/bare':>8} {'no-check/bare':>14} {'rt/torch':>9}")
    providers = rt.session_providers(provider)
    for I, H, T, B in [(12, 100, 20, 1), (12, 100, 20, 370), (64, 256, 100, 64), (128, 512, 200, 32)]:
        X = np.random.default_rng(0).standard_normal((B, T, I)).astype(np.float32)
        path = build_model(folder, I, H, stateful=False)
        net = rt.load(path, provider, session_options=options())
        unchecked = rt.load(path, provider, session_options=options(), nan_policy="allow")
        bare = session(bare_lstm_model(I, H), providers)
        X_tm = np.ascontiguousarray(X.transpose(1, 0, 2))
        fns = {"runtime": lambda: rt.predict(net, X, MiniBatchSize=B), "unchecked": lambda: rt.predict(unchecked, X, MiniBatchSize=B),
               "bare": lambda: bare.run(None, {"X": X_tm})}
        t_torch = float("nan")
        if torch is not None:
            dev = torch_device(provider)
            lstm = torch.nn.LSTM(I, H, batch_first=True).to(dev)
            Xt = torch.from_numpy(X)

            def torch_call():  # host array in, host array out, as predict
                with torch.no_grad():
                    return lstm(Xt.to(dev))[0].cpu()

            t_torch = torch_time(torch_call, seconds)
        t = compare(fns, seconds * len(fns), rounds=15)
        t_rt, t_free, t_bare = t["runtime"], t["unchecked"], t["bare"]
        print(f"{f'{I},{H},{T},{B}':>18} {1e3 * t_rt:9.3f} {1e3 * t_free:9.3f} {1e3 * t_bare:10.3f} {1e3 * t_torch:9.3f} "
              f"{t_rt / t_bare:8.3f} {t_free / t_bare:14.3f} {t_rt / t_torch:9.3f}")


def streaming(folder: str, provider: str, seconds: float) -> None:
    print("\n(2) one stream, one time step per call: µs per step (I=12, 1 intra-op thread)")
    print(f"{'H':>5} {'runtime':>9} {'IOBinding':>10} {'run+feed':>9} {'torch LSTM':>11} {'LSTMCell':>9} {'rt/IOBind':>10} {'rt/torch':>9}")
    providers = rt.session_providers(provider)
    for H in (100, 256):
        path = build_model(folder, 12, H, stateful=True)
        net = rt.load(path, provider, session_options=options(1))
        stream = rt.StreamPool(net).open()
        x = np.random.default_rng(0).standard_normal((1, 12)).astype(np.float32)
        raw = session(path, providers, threads=1)
        names = [o.name for o in raw.get_outputs()]
        ins = [i.name for i in raw.get_inputs()]
        xb = np.zeros((1, 1, 12), np.float32)
        yb = np.zeros((1, 1, H), np.float32)
        device = "cuda" if provider == "cuda" else "cpu"  # the state halves live where the LSTM runs
        halves = [[ort.OrtValue.ortvalue_from_numpy(np.zeros((1, H), np.float32), device, 0) for _ in range(2)] for _ in range(2)]
        bindings = []
        for p in (0, 1):
            b = raw.io_binding()
            b.bind_input(ins[0], "cpu", 0, np.float32, [1, 1, 12], xb.ctypes.data)
            b.bind_input(ins[1], device, 0, np.float32, [1, H], halves[p][0].data_ptr())
            b.bind_input(ins[2], device, 0, np.float32, [1, H], halves[p][1].data_ptr())
            b.bind_output(names[0], "cpu", 0, np.float32, [1, 1, H], yb.ctypes.data)
            b.bind_output(names[1], device, 0, np.float32, [1, H], halves[1 - p][0].data_ptr())
            b.bind_output(names[2], device, 0, np.float32, [1, H], halves[1 - p][1].data_ptr())
            bindings.append(b._iobinding)
        inner, parity = raw._sess, [0]

        def raw_iobinding():
            np.copyto(xb[0], x)
            inner.run_with_iobinding(bindings[parity[0]], None)
            parity[0] ^= 1
            return yb[0].copy()

        state = {ins[1]: np.zeros((1, H), np.float32), ins[2]: np.zeros((1, H), np.float32)}
        x3 = x[None]

        def run_feed():
            out = raw.run(names, {ins[0]: x3, **state})
            state[ins[1]], state[ins[2]] = out[1], out[2]
            return out[0]

        fns = {"runtime": lambda: stream.step(x), "iobinding": raw_iobinding, "feed": run_feed}
        t_torch = t_cell = float("nan")
        if torch is not None:
            torch.set_num_threads(1)
            dev = torch_device(provider)
            lstm, cell = torch.nn.LSTM(12, H, batch_first=True).to(dev), torch.nn.LSTMCell(12, H).to(dev)
            xt = torch.from_numpy(x[None])
            hc = [(torch.zeros(1, 1, H, device=dev), torch.zeros(1, 1, H, device=dev))]  # the state stays on the device
            hc_cell = [(torch.zeros(1, H, device=dev), torch.zeros(1, H, device=dev))]

            def torch_step():
                with torch.no_grad():
                    y, hc[0] = lstm(xt.to(dev), hc[0])
                return y[0].cpu()

            def cell_step():
                with torch.no_grad():
                    hc_cell[0] = cell(xt[0].to(dev), hc_cell[0])
                return hc_cell[0][0].cpu()

            t_torch, t_cell = torch_time(torch_step, seconds), torch_time(cell_step, seconds)
            torch.set_num_threads(os.cpu_count() or 1)
        t = compare(fns, seconds * len(fns))
        t_rt, t_bind, t_feed = t["runtime"], t["iobinding"], t["feed"]
        print(f"{H:5d} {1e6 * t_rt:9.2f} {1e6 * t_bind:10.2f} {1e6 * t_feed:9.2f} {1e6 * t_torch:11.2f} {1e6 * t_cell:9.2f} "
              f"{t_rt / t_bind:10.3f} {t_rt / t_torch:9.3f}")


def many_streams(folder: str, provider: str, seconds: float) -> None:
    print("\n(3) N streams advanced one step together, I=12, H=100: µs per call and per stream-step")
    print(f"{'N':>6} {'group.step':>11} {'per stream':>11} {'pool.step(dict)':>16} {'per stream':>11} {'raw run':>9} {'per stream':>11}")
    path = build_model(folder, 12, 100, stateful=True)
    net = rt.load(path, provider, session_options=options())
    raw = session(path, rt.session_providers(provider))
    ins, outs = [i.name for i in raw.get_inputs()], [o.name for o in raw.get_outputs()]
    rng = np.random.default_rng(0)
    for n in (1, 16, 256, 1024):
        pool = rt.StreamPool(net)
        group = pool.open_group(n)
        X = rng.standard_normal((n, 1, 12)).astype(np.float32)
        chunks = {pool.open(): X[k] for k in range(n)}
        h = np.zeros((n, 100), np.float32)
        t = compare({"group": lambda: group.step(X), "dict": lambda: pool.step(chunks),
                     "raw": lambda: raw.run(outs, {ins[0]: X, ins[1]: h, ins[2]: h})}, seconds * 3)
        print(f"{n:6d} {1e6 * t['group']:11.1f} {1e6 * t['group'] / n:11.3f} {1e6 * t['dict']:16.1f} {1e6 * t['dict'] / n:11.3f} "
              f"{1e6 * t['raw']:9.1f} {1e6 * t['raw'] / n:11.3f}")


def matlab_style(provider: str, seconds: float) -> None:
    print("\n(4) MATLAB-style ragged input: classify(net, X_test) on Japanese Vowels (370 sequences of 7-26 steps), ms per call")
    from lstm2onnx.datasets import japaneseVowelsTestData

    X = [x.astype(np.float32) for x in japaneseVowelsTestData()[0]]
    path = os.path.join(os.path.dirname(__file__), "..", "models", "japanese_vowels", "japanese_vowels.onnx")
    net = rt.load(path, provider, session_options=options())
    raw = session(path, rt.session_providers(provider))
    lengths = np.array([len(x) for x in X], np.int32)

    def pad_and_run():  # what a plain onnxruntime user writes: pad by hand, feed the lengths, pick the classes
        padded = np.zeros((len(X), lengths.max(), X[0].shape[1]), np.float32)
        for k, x in enumerate(X):
            padded[k, : len(x)] = x
        return raw.run(None, {"sequences": padded, "sequence_lengths": lengths})[0].argmax(axis=1)

    print(f"{'MiniBatchSize':>14} {'classify':>9} {'pad + raw run':>14} {'ratio':>7}")
    for size in (128, 370):
        t = compare({"classify": lambda: rt.classify(net, X, MiniBatchSize=size), "raw": pad_and_run}, seconds * 2)
        print(f"{size:14d} {1e3 * t['classify']:9.3f} {1e3 * t['raw']:14.3f} {t['classify'] / t['raw']:7.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timings (noisier)")
    parser.add_argument("--provider", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    seconds = 0.5 if args.quick else 2.0
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}; python {sys.version.split()[0]}, "
          f"onnxruntime {ort.__version__}, numpy {np.__version__}, torch {torch.__version__ if torch else 'not installed'}; provider {args.provider}\n")
    with tempfile.TemporaryDirectory() as folder:
        batch_calls(folder, args.provider, seconds)
        streaming(folder, args.provider, seconds)
        many_streams(folder, args.provider, seconds)
    matlab_style(args.provider, seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
