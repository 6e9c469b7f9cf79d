"""Serving speed on Triton next to the in-process StreamPool, measured in the same run.

    python bench/triton_bench.py [--sequences 64] [--steps 200] [--hidden 100] [--instances 1]

(1) stream-steps per second through Triton (the nvidia-pytriton wheel's server,
    python backend written by ``lstm2onnx triton``): ``--sequences`` concurrent
    sequences, one time step per request, an asyncio gRPC client; next to the
    same model in this process: a StreamGroup (pre-bound rows) and
    ``StreamPool.step({stream: chunk})`` (what every Triton ``execute`` does)
    advancing all sequences one step per call, and one stream at a time;
(2) the cost of stepping a set of streams in one call, per stream:
    ``pool.step({stream: chunk})`` vs a pre-bound StreamGroup, 256 streams, one step
    each (CPU time of this process, single-threaded onnxruntime): the same 256
    streams every call in row order (pre-bound rows), the same streams shuffled
    (sorted back into a block of rows), a new set every call (alternating two
    sets of 256 in row order, and shuffled), and any 256 of 1,024 open streams
    in any order (rows scattered over one page: gathered and put back). Each
    dict/group ratio is measured ``--rounds`` times, interleaved with the group
    in bursts of 5 calls; the median is printed. ``--all-together`` interleaves
    every case in each round (their pools then evict each other's state from
    the caches between bursts, which a server's one pool does not see).
    ``--local`` runs (2) only.

Prints medians and ratios; nothing is asserted. The server and the client
share this machine's cores, so (1) measures the whole serving path (gRPC,
Triton's scheduler, the python backend's shared memory, the model) on one box.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import lstm2onnx_runtime as rt
from lstm2onnx import exportONNXNetwork, fullyConnectedLayer, initialize, lstmLayer, sequenceInputLayer
from lstm2onnx.serving import TritonServer, write_repository

FEATURES, CLASSES = 12, 10


def median_rate(fn, calls: int, rounds: int = 5, clock=time.perf_counter) -> float:
    """Median calls per second of ``fn`` over ``rounds`` rounds of ``calls`` calls (after one warm-up call)."""
    fn()
    rates = []
    for _ in range(rounds):
        start = clock()
        for _ in range(calls):
            fn()
        rates.append(calls / (clock() - start))
    return statistics.median(rates)


async def triton_steps_per_second(url: str, model: str, sequences: int, steps: int, output: str) -> float:
    import tritonclient.grpc.aio as aio
    from tritonclient.grpc import InferInput, InferRequestedOutput

    client = aio.InferenceServerClient(url)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((sequences, steps, 1, 1, FEATURES)).astype(np.float32)

    async def one_sequence(k: int) -> None:
        for t in range(steps):
            tensor = InferInput("sequences", [1, 1, FEATURES], "FP32")
            tensor.set_data_from_numpy(xs[k, t])
            await client.infer(model, [tensor], outputs=[InferRequestedOutput(output)], sequence_id=100_000 + k,
                               sequence_start=t == 0, sequence_end=t == steps - 1)

    await asyncio.gather(*(one_sequence(k) for k in range(min(sequences, 4))))  # warm-up: sessions, bindings, connections
    start = time.perf_counter()
    await asyncio.gather(*(one_sequence(k) for k in range(sequences)))
    elapsed = time.perf_counter() - start
    await client.close()
    return sequences * steps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200, help="steps per sequence through Triton")
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--instances", type=int, default=1, help="python-backend instances")
    parser.add_argument("--queue-delay-us", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5, help="dict/group ratios measured in (2)")
    parser.add_argument("--local", action="store_true", help="only (2): no Triton server")
    parser.add_argument("--all-together", action="store_true", help="(2): interleave every case in each round, not each with the group alone")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"onnxruntime {rt._ort.ort.__version__}; LSTM H={args.hidden}, F={FEATURES}, K={CLASSES}, one step per request")
    layers = initialize([sequenceInputLayer(FEATURES), lstmLayer(args.hidden), fullyConnectedLayer(CLASSES)], seed=0)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        exportONNXNetwork(layers, folder / "net.onnx", stateful=True)
        if args.local:
            dict_step_cost(rt.load(folder / "net.onnx", "cpu", intra_op_threads=1), args.rounds, args.all_together)
            return
        (folder / "repo").mkdir()
        write_repository(folder / "net.onnx", folder / "repo", name="net", max_batch=max(args.sequences // args.instances, 1),
                         instances=args.instances, queue_delay_us=args.queue_delay_us, idle_us=60_000_000)
        net = rt.load(folder / "net.onnx", "cpu", intra_op_threads=1)
        with TritonServer(folder / "repo") as server:
            triton = asyncio.run(triton_steps_per_second(server.grpc_url, "net", args.sequences, args.steps, net.info.output))
            stats = __import__("tritonclient.grpc", fromlist=["x"]).InferenceServerClient(server.grpc_url).get_inference_statistics("net", as_json=True)
            model_stats = stats["model_stats"][0]
            executions = max(int(model_stats["execution_count"]), 1)
            batch = int(model_stats["inference_count"]) / executions
            inference = model_stats["inference_stats"]
            per_request = {k: int(inference[k]["ns"]) / max(int(inference[k]["count"]), 1) / 1e3 for k in ("queue", "compute_infer")}

        n = args.sequences
        pool = rt.StreamPool(net)
        group = pool.open_group(n)
        streams = [pool.open() for _ in range(n)]
        x = np.random.default_rng(1).standard_normal((n, 1, FEATURES)).astype(np.float32)
        chunks = {s: x[k] for k, s in enumerate(streams)}
        rates = {
            "StreamGroup.step (all sequences per call)": n * median_rate(lambda: group.step(x), 200),
            "StreamPool.step({stream: chunk}) (all per call)": n * median_rate(lambda: pool.step(chunks), 200),
            "Stream.step (one sequence per call)": median_rate(lambda: streams[0].step(x[0]), 2000),
        }
    print(f"\n(1) stream-steps per second, {n} concurrent sequences")
    print(f"  {'Triton (python backend, async gRPC client)':52s} {triton:12,.0f}   (mean batch {batch:.1f} requests per execute; "
          f"per request: {per_request['queue']:.0f} µs queued, {per_request['compute_infer']:.0f} µs in execute)")
    for name, rate in rates.items():
        print(f"  {name:52s} {rate:12,.0f}   Triton / this = {triton / rate:.3f}")

    dict_step_cost(net, args.rounds, args.all_together)


def dict_step_cost(net, rounds: int, all_together: bool = False, n: int = 256) -> None:
    """(2): µs of CPU time per stream of one step of n streams, ``pool.step(dict)`` next to a pre-bound group."""
    pool = rt.StreamPool(net, page_size=n)
    many, more = [pool.open() for _ in range(n)], [pool.open() for _ in range(n)]
    group = pool.open_group(n)
    scattered = rt.StreamPool(net, page_size=4 * n)  # one page: a subset's rows are gathered from it
    opened = [scattered.open() for _ in range(4 * n)]
    subsets = [[opened[k] for k in np.random.default_rng(4 + j).choice(4 * n, n, replace=False)] for j in range(2)]
    X = np.random.default_rng(2).standard_normal((n, 1, FEATURES)).astype(np.float32)
    shuffled = np.random.default_rng(3).permutation(n)
    in_order = [{s: X[k] for k, s in enumerate(streams)} for streams in (many, more)]
    mixed = [{streams[k]: X[k] for k in shuffled} for streams in (many, more)]
    anywhere = [{s: X[k] for k, s in enumerate(streams)} for streams in subsets]
    calls = itertools.count()
    cases = {
        "same streams, row order": lambda: pool.step(in_order[0]),
        "same streams, shuffled": lambda: pool.step(mixed[0]),
        "new set each call, row order": lambda: pool.step(in_order[next(calls) & 1]),
        "new set each call, shuffled": lambda: pool.step(mixed[next(calls) & 1]),
        f"any {n} of {4 * n} streams each call": lambda: scattered.step(anywhere[next(calls) & 1]),
    }

    # Each round times bursts of 5 calls of the group and of a case in turn, 60 times over: a shared machine's slow
    # spells (seconds long here) then fall on both alike. CPU time of this process (onnxruntime runs single-threaded
    # here) is steadier than wall time. Per round: the median burst of each, and their ratio. By default each case is
    # paired with the group alone, as a server's one pool would run; --all-together interleaves every case in each
    # round, so that the other cases' pools evict this one's state and objects from the core's caches between bursts.
    every = {"group": lambda: group.step(X), **cases}
    for fn in every.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in every}
    ratios: dict[str, list[float]] = {name: [] for name in cases}
    clock = time.process_time
    rounds_of = [every] if all_together else [{"group": every["group"], name: fn} for name, fn in cases.items()]
    for together in rounds_of:
        for _ in range(rounds):
            bursts: dict[str, list[float]] = {name: [] for name in together}
            for _ in range(60):
                for name, fn in together.items():
                    start = clock()
                    for _ in range(5):
                        fn()
                    bursts[name].append((clock() - start) / 5 / n * 1e6)
            medians = {name: statistics.median(b) for name, b in bursts.items()}
            for name in together:
                times[name].append(medians[name])
            for name in together.keys() - {"group"}:
                ratios[name].append(medians[name] / medians["group"])
    how = "every case in each round" if all_together else "each case paired with the group"
    print(f"\n(2) one step of {n} streams in one call, µs of CPU time per stream (medians of {rounds} rounds, {how})")
    print(f"  {'StreamGroup.step (pre-bound)':58s} {statistics.median(times['group']):8.2f}")
    for name in cases:
        print(f"  {'pool.step({stream: chunk}), ' + name:58s} {statistics.median(times[name]):8.2f}   "
              f"dict / group = {statistics.median(ratios[name]):.2f}  (rounds: {', '.join(f'{r:.2f}' for r in ratios[name])})")

if __name__ == "__main__":
    main()
