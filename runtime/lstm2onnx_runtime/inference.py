"""MATLAB's prediction functions: predict, classify, predictAndUpdateState, classifyAndUpdateState, resetState.

Every result equals what MATLAB gives for that sequence run alone
(MiniBatchSize 1): padding and the composition of mini-batches never change
a number, because padded steps are skipped, not computed. So
SequencePaddingValue and SequencePaddingDirection, accepted for
compatibility, cannot change a result either; SequenceLength 'shortest'
truncates each mini-batch to its shortest sequence as MATLAB does, and an
integer SequenceLength runs long sequences in chunks of that many steps,
carrying the state (stateful unidirectional graphs only).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .batching import PredictOptions, as_sequences, check_batch, pad, parse_options, plan_batches
from .errors import RuntimeInputError, StreamError
from .network import Network

State = tuple[np.ndarray, ...]  # one [S, H] array per state tensor (ModelInfo.state_tensors)


def predict(net: Network, X: Any, *args: Any, **kwargs: Any):
    """Network outputs for sequences X (see :mod:`lstm2onnx_runtime.batching` for the accepted forms).

    Returns ``[N, K]`` for networks that end in one time step, else a list of
    ``[T_n, K]`` arrays (``[N, T, K]`` for a 3-D input, ``[T, K]`` / ``[K]`` for
    one 2-D sequence). Starts from the network's current state.
    ``ReturnCategorical=True`` (MATLAB's option, default false) gives a
    classification network's labels instead, as :func:`classify`'s first result.
    """
    categorical, args, kwargs = _return_categorical("predict", args, kwargs)
    return _categorical(net, _outputs(net, X, "predict", args, kwargs), categorical)


def _outputs(net: Network, X: Any, function: str, args: tuple, kwargs: dict):
    if not args and type(X) is np.ndarray and (not kwargs or _fits(kwargs, X)):
        Y = net.run_whole(X)  # the serving call: one contiguous float32 batch (the general path gives the same)
        if Y is not None:
            return Y
    outputs, _ = _predict(net, X, function, args, kwargs)
    return outputs


def _fits(kwargs: dict, X: np.ndarray) -> bool:
    """Only a valid MiniBatchSize of at least X's batch size: the batch is one call."""
    size = kwargs.get("MiniBatchSize")
    return len(kwargs) == 1 and type(size) is int and X.ndim == 3 and size >= len(X)


def classify(net: Network, X: Any, *args: Any, **kwargs: Any):
    """``(labels, scores)``: the class names stored in the model and the probabilities predict returns.

    Only for networks that end in class probabilities (a classificationLayer, or
    a softmaxLayer with no output layer): a regression network has no labels,
    and numbering its responses "1".."K" would be a silent wrong answer.
    """
    _require_classifier(net, "classify")
    scores = _outputs(net, X, "classify", args, kwargs)
    return _labels(net, scores), scores


def predictAndUpdateState(net: Network, X: Any, *args: Any, **kwargs: Any):
    """``(updated_net, Y)``: predict, and return a network whose state is where these sequences ended.

    Calling it again with the next chunk continues the sequences:
    ``Y1 ++ Y2 == predict(net, X1 ++ X2)``. The input network is not changed.
    ``ReturnCategorical`` as in :func:`predict`.
    """
    categorical, args, kwargs = _return_categorical("predictAndUpdateState", args, kwargs)
    updated, outputs = _update_state(net, X, "predictAndUpdateState", args, kwargs)
    return updated, _categorical(net, outputs, categorical)


def classifyAndUpdateState(net: Network, X: Any, *args: Any, **kwargs: Any):
    """``(updated_net, labels, scores)``, as :func:`predictAndUpdateState` with labels."""
    _require_classifier(net, "classifyAndUpdateState")
    updated, scores = _update_state(net, X, "classifyAndUpdateState", args, kwargs)
    return updated, _labels(net, scores), scores


def _update_state(net: Network, X: Any, function: str, args: tuple, kwargs: dict) -> tuple[Network, Any]:
    _require_streaming(net, function)
    outputs, state = _predict(net, X, function, args, kwargs)
    return net.with_state(state), outputs


def _return_categorical(function: str, args: tuple, kwargs: dict) -> tuple[bool, tuple, dict]:
    """MATLAB's ReturnCategorical (predict and predictAndUpdateState only; classify has no such option),
    checked (true/false, or 1/0 as MATLAB takes), and the other options."""
    if not args and not kwargs:
        return False, args, kwargs
    names = [str(key) for key in args[::2]] if len(args) % 2 == 0 else []  # odd pairs: parse_options reports them
    found = [(k, args[k + 1]) for k, key in zip(range(0, len(args), 2), names) if key.lower() == "returncategorical"]
    found += [(key, value) for key, value in kwargs.items() if key.lower() == "returncategorical"]
    if not found:
        return False, args, kwargs
    if len(found) > 1:
        raise RuntimeInputError(f"{function}: option 'ReturnCategorical' is given more than once")
    where, value = found[0]
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, float, np.integer, np.floating)) and value in (0, 1)):
        if isinstance(where, int):
            return bool(value), args[:where] + args[where + 2 :], kwargs
        return bool(value), args, {key: v for key, v in kwargs.items() if key != where}
    raise RuntimeInputError(f"{function}: ReturnCategorical must be true or false, got {value!r}")


def _categorical(net: Network, outputs: Any, categorical: bool):
    """The labels in place of a classification network's scores when ReturnCategorical is true (MATLAB returns labels
    for classification output layers only: other networks' outputs stay numbers)."""
    return _labels(net, outputs) if categorical and net.info.task == "classification" else outputs


def resetState(net: Network) -> Network:
    """The network with every layer's state back to its HiddenState/CellState."""
    return net.with_state(net.initial_state())


def _require_streaming(net: Network, function: str) -> None:
    if net.info.bidirectional:
        raise StreamError(
            f"{function}: {net.path!r} has a bilstmLayer, whose backward direction needs the whole sequence, "
            "so its state cannot be carried from one call to the next"
        )
    if net.info.rules.windows:
        raise StreamError(
            f"{function}: {net.path!r} has convolution or pooling over time; MATLAB's predictAndUpdateState carries only "
            "recurrent state, so a window would see each chunk alone, and lstm2onnx builds no stateful graph for such a "
            "network: predict whole sequences"
        )
    if not net.info.stateful:
        raise StreamError(
            f"{function}: {net.path!r} has no state inputs; rebuild it stateful: "
            "lstm2onnx.build(layers, stateful=True) or `lstm2onnx build SPEC --stateful -o OUT.onnx`"
        )


def _require_classifier(net: Network, function: str) -> None:
    info = net.info
    if info.task == "regression" or (info.task != "classification" and info.output != "probabilities"):
        raise RuntimeInputError(
            f"{function}: {net.path!r} is a {info.task if info.task != 'none' else 'network without an output layer'} "
            f"(output {info.output!r}), not a classifier; use predict"
        )


def _note_environment(net: Network, function: str, environment: str) -> None:
    """ExecutionEnvironment has no effect here: say so when it asks for other than what ``load`` chose."""
    runs_on = "gpu" if net.on_cuda else "cpu"
    if environment in ("auto", runs_on):
        return
    warnings.warn(
        f"{function}: ExecutionEnvironment {environment!r} has no effect; this network runs on {net.providers[0]}, "
        f"chosen when it was loaded (load(path, provider='cpu' or 'cuda'))",
        stacklevel=4,
    )


def _labels(net: Network, scores: Any):
    classes = np.asarray(net.classes)
    if isinstance(scores, list):
        return [classes[s.argmax(axis=-1)] for s in scores]
    return classes[np.asarray(scores).argmax(axis=-1)]


def _predict(net: Network, X: Any, function: str, args: tuple, kwargs: dict) -> tuple[Any, State]:
    options = parse_options(function, args, kwargs)
    _note_environment(net, function, options.ExecutionEnvironment)
    info = net.info
    if isinstance(X, np.ndarray) and X.ndim == 3 and not isinstance(options.SequenceLength, int):
        X = check_batch(function, X, info.features, net.nan_policy)
        info.rules.check(function, X)
        return _predict_batch(net, X, options.MiniBatchSize, function)
    sequences, form = as_sequences(function, X, info.features, net.nan_policy)
    info.rules.check(function, sequences)
    lengths = np.array([len(x) for x in sequences])
    if isinstance(options.SequenceLength, int) and lengths.max() > options.SequenceLength:
        try:
            _require_streaming(net, function)
        except StreamError as error:
            raise RuntimeInputError(f"{error} (needed for SequenceLength={options.SequenceLength})") from None
    state = _batch_state(net, len(sequences), function)
    outputs, final = _run_batches(net, sequences, lengths, options, state)
    return _shape_like_input(outputs, form, info.sequence_output), final


def _predict_batch(net: Network, X: np.ndarray, mini_batch: int, function: str) -> tuple[np.ndarray, State]:
    """A ``[N, T, F]`` batch of equal-length sequences: fed in slices of MiniBatchSize, no copies, no padding."""
    info = net.info
    n, steps, _ = X.shape
    state = _batch_state(net, n, function)
    run = net.run
    results = []
    for start in range(0, n, mini_batch):
        rows = slice(start, min(start + mini_batch, n))
        feeds = {info.sequences: X[rows]}
        if info.sequence_lengths:
            feeds[info.sequence_lengths] = np.full(rows.stop - rows.start, steps, np.int32)
        for tensor, value in zip(info.state_tensors, state):
            feeds[tensor.name_in] = np.ascontiguousarray(value[rows])
        results.append(run(info.output_names, feeds, None))
    if len(results) == 1:
        out = results[0]
    else:
        out = [np.concatenate(parts) for parts in zip(*results)]
    return out[0], tuple(out[1:])


def _batch_state(net: Network, n: int, function: str) -> State:
    for h in net.state:
        if len(h) not in (1, n):
            raise RuntimeInputError(
                f"{function}: the network's state holds {len(h)} sequences (from an earlier predictAndUpdateState), "
                f"but {n} were given; pass {len(h)} sequences or call resetState first"
            )
    return tuple(np.broadcast_to(value, (n, value.shape[1])) for value in net.state)


def _run_batches(net: Network, sequences: list[np.ndarray], lengths: np.ndarray, options: PredictOptions, state: State):
    info = net.info
    run = net.run
    names = info.output_names
    n = len(sequences)
    final = tuple(value.copy() for value in state)
    last = None if info.sequence_output else np.empty((n, info.output_size), np.float32)
    pieces: list[list[np.ndarray]] = [[] for _ in range(n)]
    for idx in plan_batches(lengths, options, ragged=info.sequence_lengths is not None):
        wanted = lengths[idx] if options.SequenceLength != "shortest" else np.full(len(idx), lengths[idx].min())
        chunk = options.SequenceLength if isinstance(options.SequenceLength, int) else int(wanted.max())
        for start in range(0, int(wanted.max()), chunk):
            steps = np.minimum(wanted - start, chunk)
            active = steps > 0  # a finished sequence must not be fed: a zero length would zero its state
            rows, steps = idx[active], steps[active].astype(np.int32)
            feeds = {info.sequences: pad([sequences[r][start : start + s] for r, s in zip(rows, steps)], int(steps.max()), info.features, options.SequencePaddingValue)}
            if info.sequence_lengths:
                feeds[info.sequence_lengths] = steps
            for tensor, value in zip(info.state_tensors, final):
                feeds[tensor.name_in] = value[rows]
            result = run(names, feeds, None)
            for k, value in enumerate(final):
                value[rows] = result[1 + k]
            if last is not None:
                last[rows] = result[0]  # a later chunk overwrites: the output after a sequence's last step stays
            else:
                for j, (r, s) in enumerate(zip(rows, info.rules.output_lengths(steps))):  # windows over time change lengths
                    pieces[r].append(result[0][j, :s])
    outputs = last if last is not None else [p[0] if len(p) == 1 else np.concatenate(p) for p in pieces]
    return outputs, tuple(value[:1].copy() if n == 1 else value for value in final)


def _shape_like_input(outputs: np.ndarray | list[np.ndarray], form: str, sequence_output: bool):
    """``outputs``: ``[N, K]`` for networks ending in one step, else a list of ``[T_n, K]``."""
    if form == "single":
        return outputs[0]
    if sequence_output and form == "array" and len({len(o) for o in outputs}) == 1:
        return np.stack(outputs)
    return outputs
