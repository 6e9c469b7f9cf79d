"""Size bombs in specs, layer sizes and stream pages end in a clean error quickly, before any allocation.

The bombs run in a child process under an address-space limit (conftest.run_bounded)
and must answer in well under a second of CPU time.
"""

from __future__ import annotations

import textwrap
import time

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conftest import run_bounded
from lstm2onnx import build, fullyConnectedLayer, lstmLayer, sequenceInputLayer
from lstm2onnx.errors import LayerError, Lstm2OnnxError, SpecError
from lstm2onnx.initializers import MAX_LEARNABLE_ELEMENTS
from lstm2onnx.spec import MAX_SPEC_NODES, parse_spec


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """A few hundred bytes of YAML whose aliases expand to width**levels numbers (9**9 = 387 million)."""
    lines = [f"a0: &a0 [{', '.join(['1.0'] * width)}]"]
    for k in range(1, levels - 1):
        lines.append(f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * width)}]")
    lines.append("layers:")
    lines.append(f"  - sequenceInputLayer: {{InputSize: 3, Normalization: zerocenter, Mean: [{', '.join([f'*a{levels - 2}'] * width)}]}}")
    return "\n".join(lines) + "\n"


BOUNDED_CHILD = """
    import sys, time
    import lstm2onnx, lstm2onnx.spec, lstm2onnx_runtime  # imports are not the bounded work
    start = time.process_time()
    try:
        {action}
        print("no error")
    except Exception as error:
        print(type(error).__name__ + ":", error)
    print("seconds:", time.process_time() - start)
"""


def run_child(action: str, *args: str) -> tuple[str, float]:
    child = run_bounded(BOUNDED_CHILD.format(action=action), *args)
    assert child.returncode == 0, child.stderr
    message, seconds = child.stdout.rsplit("seconds:", 1)
    return message.strip(), float(seconds)


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    text = alias_bomb()
    assert len(text) < 1000
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    message, seconds = run_child("from lstm2onnx.spec import load_spec; load_spec(sys.argv[1])", str(path))
    assert f"expands to more than {MAX_SPEC_NODES:,} values" in message
    assert seconds < 0.5


def test_aliases_that_expand_moderately_still_read():
    text = """
    layers:
      - sequenceInputLayer: {InputSize: 3, Normalization: zerocenter, Mean: &m [1.0, 2.0, 3.0]}
      - fullyConnectedLayer: {OutputSize: 3, Bias: *m}
    """
    layers, _ = parse_spec(textwrap.dedent(text))
    np.testing.assert_array_equal(layers[1].Bias, [1, 2, 3])


@pytest.mark.parametrize(
    "text, message",
    [
        ("&a [*a]", "a YAML alias refers to a node that contains it"),
        ("x: &x {layers: *x}", "a YAML alias refers to a node that contains it"),
        ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
    ],
    ids=["recursive-list", "recursive-map", "deep"],
)
def test_recursive_and_deep_specs(text, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(text)


@pytest.mark.parametrize("size", [10**9, 10**5])
def test_huge_layer_sizes_fail_before_drawing(size):
    message, seconds = run_child(f"from lstm2onnx.spec import parse_spec; from lstm2onnx import build; build(parse_spec('- sequenceInputLayer: 3\\n- lstmLayer: {size}\\n')[0])")
    assert message.startswith("LayerError: lstmLayer 'lstm': ") and f"more than the {MAX_LEARNABLE_ELEMENTS:,} lstm2onnx draws" in message
    assert seconds < 0.5


def test_huge_input_size_fails_in_the_next_layer():
    with pytest.raises(LayerError, match=r"fullyConnectedLayer 'fc': WeightsInitializer: a 10-by-1000000000 learnable"):
        build([sequenceInputLayer(10**9), fullyConnectedLayer(10)])


def test_sizes_at_the_limit_build():
    H = 64
    model = build([sequenceInputLayer(4), lstmLayer(H), fullyConnectedLayer(2)])
    assert model.graph.initializer  # a normal network is untouched by the bound


def stateful_model(tmp_path, hidden: int) -> str:
    path = tmp_path / "stateful.onnx"
    path.write_bytes(build([sequenceInputLayer(3), lstmLayer(hidden)], stateful=True).SerializeToString())
    return str(path)


def test_stream_page_size_is_bounded(tmp_path):
    path = stateful_model(tmp_path, 256)
    message, seconds = run_child("from lstm2onnx_runtime import load, StreamPool; StreamPool(load(sys.argv[1]), page_size=10**9)", path)
    assert "page_size = 1,000,000,000 streams would need a 1907.3 GiB state page" in message
    assert seconds < 5  # includes loading the model


def test_stream_groups_are_bounded(tmp_path):
    from lstm2onnx_runtime import StreamError, StreamPool, load

    net = load(stateful_model(tmp_path, 8))
    pool = StreamPool(net, page_size=4)
    with pytest.raises(StreamError, match=r"open_group: n = 100,000,000 streams would need a 5\.96 GiB|open_group: n = 100,000,000 streams would need a 6\.0 GiB"):
        pool.open_group(10**8)
    group = pool.open_group(3)  # the pool still works
    assert len(group.streams) == 3


SPEC_PIECES = [
    "layers:", "\n", "  - ", "sequenceInputLayer", "lstmLayer", "fullyConnectedLayer", "softmaxLayer", ": ", "3", "1e-3", "-1",
    "[", "]", "{", "}", ", ", "&a ", "*a", "OutputMode", "last", "Mean", "'", '"', "!!python/object:os.system", "\t", "null", "1e999",
]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(SPEC_PIECES), max_size=40))
def test_fuzzed_specs_end_in_layers_or_a_spec_error(pieces):
    text = "".join(pieces)
    start = time.process_time()
    try:
        parse_spec(text)
    except Lstm2OnnxError:
        pass
    assert time.process_time() - start < 1.0
