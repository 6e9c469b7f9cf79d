"""Every ```python block of the READMEs runs as written, so the documentation cannot drift from the code.

The blocks of one README run in order in one namespace (a later block may use what an earlier one
defined, as a reader would), in a fresh folder that holds a link to the repository's ``models/``.
A block whose first line is ``# readme-test: skip (<reason>)`` is not run (e.g. it needs a live
Triton server or a GPU); the reason is required and such blocks stay few.
"""

from __future__ import annotations

import os
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
READMES = ["README.md", "runtime/README.md", "models/japanese_vowels/README.md"]
SKIP = re.compile(r"^# readme-test: skip \((?P<reason>[^)]+)\)\s*$")
MAX_SKIPPED = 3


def python_blocks(path: pathlib.Path) -> list[tuple[int, str]]:
    """``(line number, code)`` of every fenced ```python block."""
    blocks, current, start = [], None, 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if current is None and line.strip() == "```python":
            current, start = [], number + 1
        elif current is not None and line.strip() == "```":
            blocks.append((start, "\n".join(current) + "\n"))
            current = None
        elif current is not None:
            current.append(line)
    assert current is None, f"{path}: unclosed ```python block from line {start}"
    return blocks


def test_skipped_blocks_are_few_and_say_why():
    skipped = [(name, line, SKIP.match(code.splitlines()[0]).group("reason"))
               for name in READMES for line, code in python_blocks(ROOT / name) if SKIP.match(code.splitlines()[0])]
    assert len(skipped) <= MAX_SKIPPED, skipped


@pytest.mark.parametrize("name", READMES)
def test_readme_python_blocks_run(name, tmp_path, monkeypatch, capsys):
    blocks = python_blocks(ROOT / name)
    assert blocks, f"{name} has no python blocks"
    (tmp_path / "models").symlink_to(ROOT / "models")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__readme__"}
    for line, code in blocks:
        if SKIP.match(code.splitlines()[0]):
            compile(code, f"{name}:{line}", "exec")  # still valid Python
            continue
        exec(compile(code, f"{name}:{line}", "exec"), namespace)  # noqa: S102 (our own documentation)
    capsys.readouterr()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".part")]
