"""The ``lstm2onnx triton`` and ``lstm2onnx serve`` subcommands (added to the main parser by :func:`add_commands`).

    lstm2onnx triton MODEL.onnx -o REPO [--name NAME] [--backend python|onnxruntime] [--max-batch N]
                     [--instances K] [--provider cpu|cuda] [--idle-us U] [--queue-delay-us D]
    lstm2onnx serve REPO [--http-port 8000] [--grpc-port 8001] [--metrics-port 8002] [--log-file F]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from .triton import BACKENDS, DEFAULT_IDLE_US, DEFAULT_MAX_BATCH, DEFAULT_QUEUE_DELAY_US, PROVIDERS

COMMANDS = ("triton", "serve")


def _count(text: str) -> int:
    """argparse type for sizes and times: an integer of at least 1."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _port(text: str) -> int:
    """argparse type for TCP ports: 1 to 65535."""
    if not text.strip().isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port from 1 to 65535, got {text!r}")
    return int(text)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add both subcommands to the main parser's subparsers."""
    positive = _count
    triton = commands.add_parser("triton", help="write a Triton Inference Server model repository (sequence batcher, stateful)")
    triton.add_argument("model", help="an .onnx file built by lstm2onnx (a stateful copy is made when it has no state inputs)")
    triton.add_argument("-o", "--output", required=True, help="the model repository folder (made if missing); writes OUTPUT/NAME/")
    triton.add_argument("--name", help="model name in Triton (default: the file name)")
    triton.add_argument("--backend", choices=BACKENDS, default="python",
                        help="python: the runtime's StreamPool, any chunk lengths, runs on 'lstm2onnx serve' (default); "
                             "onnxruntime: implicit state kept by Triton (Triton's containers)")
    triton.add_argument("--max-batch", type=positive, default=DEFAULT_MAX_BATCH,
                        help=f"sequence slots per instance = max_batch_size (default {DEFAULT_MAX_BATCH})")
    triton.add_argument("--instances", type=positive, default=1, help="model instances (default 1)")
    triton.add_argument("--provider", choices=PROVIDERS, default="cpu", help="cpu (KIND_CPU) or cuda (KIND_GPU instances)")
    triton.add_argument("--idle-us", type=positive, default=DEFAULT_IDLE_US,
                        help=f"max_sequence_idle_microseconds: a sequence idle this long is freed (default {DEFAULT_IDLE_US})")
    triton.add_argument("--queue-delay-us", type=int, default=DEFAULT_QUEUE_DELAY_US,
                        help=f"how long a batch waits for other sequences' requests (default {DEFAULT_QUEUE_DELAY_US})")
    serve = commands.add_parser("serve", help="run Triton's server from the nvidia-pytriton wheel on a model repository")
    serve.add_argument("repository", help="a model repository written by 'lstm2onnx triton'")
    serve.add_argument("--http-port", type=_port, default=8000)
    serve.add_argument("--grpc-port", type=_port, default=8001)
    serve.add_argument("--metrics-port", type=_port, default=8002)
    serve.add_argument("--log-file", default="tritonserver.log", help="the server's log (default ./tritonserver.log)")
    serve.add_argument("--log-verbose", type=int, default=0, help="Triton's --log-verbose level (default 0)")


def run(args: argparse.Namespace) -> int:
    if args.command == "triton":
        return _triton(args)
    return _serve(args)


def _triton(args: argparse.Namespace) -> int:
    from .triton import write_repository

    folder = write_repository(args.model, args.output, name=args.name, backend=args.backend, max_batch=args.max_batch,
                              instances=args.instances, provider=args.provider, idle_us=args.idle_us,
                              queue_delay_us=args.queue_delay_us)
    if args.backend == "python":
        print(f"wrote {folder} (python backend); serve it with: lstm2onnx serve {args.output}")
    else:  # the nvidia-pytriton wheel behind `lstm2onnx serve` has no onnxruntime backend
        print(f"wrote {folder} (onnxruntime backend); serve it in Triton's container, e.g. docker run -p 8000-8002:8000-8002 "
              f"-v {os.path.abspath(args.output)}:/models nvcr.io/nvidia/tritonserver:24.10-py3 tritonserver --model-repository /models")
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _serve(args: argparse.Namespace) -> int:
    from .server import TritonServer

    server = TritonServer(args.repository, http_port=args.http_port, grpc_port=args.grpc_port, metrics_port=args.metrics_port,
                          log_file=args.log_file, log_verbose=args.log_verbose)
    # the server runs in a session of its own (a terminal's Ctrl-C reaches only this process): stop it on SIGINT and SIGTERM
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    keep_log = False
    try:
        server.start()
        print(f"serving {args.repository}: HTTP {server.http_url}, gRPC {server.grpc_url}, metrics localhost:{server.metrics_port}; "
              f"log in {server.log_file}; Ctrl-C stops", flush=True)
        status = server.wait()
        # it stopped by itself: say why from its log, which stays
        print(f"tritonserver exited with status {status}; the end of {server.log_file}:\n{server.log_tail()}", file=sys.stderr)
        keep_log = True
        return 1
    except KeyboardInterrupt:
        print("stopping tritonserver ...", flush=True)
        return 0
    finally:
        server.stop(keep_log=keep_log)
