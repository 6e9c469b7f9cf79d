"""The MATLAB interpreter's bounds: hostile scripts end with a clean MatlabError, in < 2 s CPU and < 300 MB.

Each bomb runs in a child process whose address space is limited (so a
reader that materialised what a script asks for would die there with a
MemoryError instead of passing); the child measures the CPU time and the
peak resident memory the build added, and the test asserts the issue's
promise: any input of at most 1 MB ends in under 2 s and 300 MB.
"""

from __future__ import annotations

import json

import pytest
from conftest import run_bounded

CHILD = """
import json, resource, sys, time
from lstm2onnx.matlab import MatlabError, from_matlab

with open(sys.argv[1], encoding="utf-8") as handle:
    text = handle.read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.process_time()
try:
    from_matlab(text)
    outcome = "built"
except MatlabError as error:
    outcome = str(error)
cpu = time.process_time() - start
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps({"outcome": outcome, "cpu": cpu, "grown_mb": grown}))
"""

BOMBS = {
    "ones then index": ("a = ones(1,1e7); b = a(1:1e7); layers = [sequenceInputLayer(numel(b))];", "is too large"),
    "index just under the cap": ("a = ones(1,4e6); b = a(1:4e6); c = b + b; d = c(1:4e6); e = [d d d];\n"
                                 "layers = [sequenceInputLayer(numel(e))];", "elements in all"),
    "strings concatenated": ("c = string(1:1e6); d = [c c c c c c c c c c]; layers = [sequenceInputLayer(numel(d))];", "is too large"),
    "smaller strings concatenated": ("c = string(1:4e5); d = [c c c c c c c c c c]; layers = [sequenceInputLayer(numel(d))];",
                                     "is too large"),
    "outer sum": ("a = 1:3e4; b = a + a'; layers = [sequenceInputLayer(numel(b))];", "30000x30000 is too large"),
    "matrix product": ("a = ones(3e4, 1); b = a * a'; layers = [sequenceInputLayer(numel(b))];", "30000x30000 is too large"),
    "deep parentheses": ("x = " + "(" * 200_000 + "1" + ")" * 200_000 + "; layers = [sequenceInputLayer(x)];", "nesting is deeper"),
    "deep brackets": ("x = " + "[" * 400_000 + "; layers = [sequenceInputLayer(x)];", "nesting is deeper"),
    "deep blocks": ("if 1\n" * 50_000 + "x = 1;\n" + "end\n" * 50_000 + "layers = [sequenceInputLayer(x)];", "deeper than 64"),
    "huge loop": ("n = 0;\nfor i = 1:1e12\n  n = n + 1;\nend\nlayers = [sequenceInputLayer(n)];", "CPU time"),
    "nested loops": ("n = 0;\nfor i = 1:1e5\n for j = 1:1e5\n  n = n + 1;\n end\nend\nlayers = [sequenceInputLayer(n)];", "CPU time"),
    "endless while": ("n = 0;\nwhile true\n  n = n + 1;\nend\nlayers = [sequenceInputLayer(n)];", "CPU time"),
    "loops nested 60 deep": ("n = 0;\n" + "for i = 1:2\n" * 60 + "n = n + 1;\n" + "end\n" * 60 + "layers = [sequenceInputLayer(n)];",
                             "CPU time"),
    "array grown in a loop": ("a = [];\nfor i = 1:1e7\n  a(end+1) = i;\nend\nlayers = [sequenceInputLayer(numel(a))];", "elements in all"),
    "layer array grown in a loop": ("layers = [sequenceInputLayer(3)];\nfor i = 1:1e7\n  layers(end+1) = dropoutLayer(0.1);\nend",
                                    "CPU time"),
    "text doubled": ("s = 'x';\nfor i = 1:100\n  s = [s s];\nend\nlayers = [sequenceInputLayer(numel(s))];", "is too large"),
    "sprintf of a range": ("s = sprintf('%d,', 1:3e6); layers = [sequenceInputLayer(numel(s))];", "elements in all"),
    "cells": ("c = cell(1, 3e6); d = [c c]; layers = [sequenceInputLayer(numel(d))];", "is too large"),
    "recursion": ("layers = f(1);\nfunction y = f(x)\n  y = [f(x + 1); lstmLayer(3)];\nend", "calls nest deeper than 32"),
    "cellfun over a large cell": ("c = cell(1, 4e5); n = cellfun(@(x) numel(x) + 1, c); layers = [sequenceInputLayer(sum(n))];",
                                  "CPU time|built"),
    "nested arrayfun": ("v = arrayfun(@(i) sum(arrayfun(@(j) j, 1:1e4)), 1:1e4); layers = [sequenceInputLayer(numel(v))];",
                        "CPU time"),
    "handle recursion": ("f = @(g, x) g(g, x + 1); n = f(f, 1); layers = [sequenceInputLayer(n)];", "calls nest deeper than 32"),
    "randperm of a billion": ("p = randperm(1e9); layers = [sequenceInputLayer(numel(p))];", "is too large"),
    "k-fold of millions": ("c = cvpartition(3e6, 'KFold', 3000); layers = [sequenceInputLayer(c.NumTestSets)];", "is too large"),
    "num2cell of millions": ("c = num2cell(ones(1, 3e6)); layers = [sequenceInputLayer(numel(c))];", "is too large"),
    "1 MB of statements": ("x = 1;\n" * 140_000 + "layers = [sequenceInputLayer(x)];", "CPU time"),
    "1/4 MB of unneeded junk": ("plot(x{1}', 'r'); " * 14_000 + "\nlayers = [sequenceInputLayer(3)];", "built"),
    "1 MB of unneeded junk": ("plot(x{1}', 'r'); " * 55_000 + "\nlayers = [sequenceInputLayer(3)];", "built|CPU time"),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_bombs_end_cleanly_within_two_seconds_and_300_mb(name, tmp_path):
    text, expected = BOMBS[name]
    assert len(text) <= 1_000_000
    script = tmp_path / "bomb.m"
    script.write_text(text, encoding="utf-8")
    done = run_bounded(CHILD, str(script), timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert any(e in result["outcome"] for e in expected.split("|")), result["outcome"][:500]
    assert max(map(len, result["outcome"].splitlines())) < 400  # a long source line is shown as a window
    assert result["cpu"] < 2.0, result
    assert result["grown_mb"] < 300, result
