"""Specs (issue 11): JSON is YAML, so every JSON number reads as a number (YAML 1.2's float rule, not YAML 1.1's)."""

from __future__ import annotations

import json
import math

import numpy as np
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm2onnx.spec import _Yaml12Loader, parse_spec


def test_json_exponent_numbers_are_numbers_in_a_spec():
    spec = json.dumps({"layers": [{"sequenceInputLayer": [3, "Normalization", "zscore", "Mean", [1e-3, -2E5, 0.5e+2],
                                                          "StandardDeviation", [1e0, 2.5e-7, 3]]},
                                  {"lstmLayer": 4}, {"fullyConnectedLayer": 2}]})
    layers, _ = parse_spec(spec)
    np.testing.assert_array_equal(layers[0].Mean.reshape(-1), np.float32([1e-3, -2e5, 50]))
    np.testing.assert_array_equal(layers[0].StandardDeviation.reshape(-1), np.float32([1, 2.5e-7, 3]))


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-10**18, 10**18), max_size=8))
def test_every_json_number_reads_back_equal(values):
    text = json.dumps({"x": values})
    assert yaml.load(text, Loader=_Yaml12Loader) == json.loads(text)


def test_yaml_12_rules_kept():
    load = lambda t: yaml.load(t, Loader=_Yaml12Loader)  # noqa: E731
    assert load("[3, -7, +3]") == [3, -7, 3] and all(type(v) is int for v in load("[3, -7]"))
    assert load("[no, yes, on, off, 1e, e3]") == ["no", "yes", "on", "off", "1e", "e3"]
    assert load("[true, false, .5, 1., .inf, -.inf]")[:5] == [True, False, 0.5, 1.0, math.inf]
    assert math.isnan(load(".nan"))
