"""The package a user installs (issue 11): LICENSE, metadata, py.typed, what the sdists and wheels carry."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_license_file_matches_the_metadata():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Copyright (c) the lstm2onnx authors" in text
    assert (ROOT / "runtime" / "LICENSE").read_text() == text  # the runtime's sdist is built from runtime/ alone


@pytest.mark.parametrize("pyproject,package", [("pyproject.toml", "lstm2onnx"), ("runtime/pyproject.toml", "lstm2onnx_runtime")])
def test_project_metadata(pyproject, package):
    project = tomllib.loads((ROOT / pyproject).read_text())
    meta = project["project"]
    assert meta["license"] == "MIT" and meta["license-files"] == ["LICENSE"]
    assert meta["keywords"] and "Typing :: Typed" in meta["classifiers"]
    assert not [c for c in meta["classifiers"] if c.startswith("License ::")]  # the SPDX expression says it
    assert "urls" not in meta  # no public address exists; none is invented
    assert "py.typed" in project["tool"]["setuptools"]["package-data"][package]
    assert (ROOT / pyproject).parent.joinpath(package, "py.typed").is_file()


def _build(source: pathlib.Path, out: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    for kind in ("sdist", "wheel"):  # one process each: setuptools keeps state between the two builds
        code = f"import sys; from setuptools import build_meta as b; print(b.build_{kind}(sys.argv[1]))"
        subprocess.run([sys.executable, "-c", code, str(out / kind)], cwd=source, check=True, capture_output=True)
    return next((out / "sdist").glob("*.tar.gz")), next((out / "wheel").glob("*.whl"))


def test_sdists_and_wheels_carry_tests_license_and_typing(tmp_path):
    tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode:
        pytest.skip("not a git checkout (e.g. running from an unpacked sdist)")
    copy = tmp_path / "src"
    for name in tracked.stdout.splitlines():
        if (ROOT / name).is_file() and ".egg-info" not in name:
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    sdist, wheel = _build(copy, tmp_path / "dist")
    names = tarfile.open(sdist).getnames()
    prefix = names[0].split("/")[0]
    for needed in ("LICENSE", "tests/conftest.py", "tests/runtime/test_runtime_predict.py", "tests/training/test_solver.py",
                   "tests/matlab/test_matlab_parser.py", "models/japanese_vowels/japanese_vowels.onnx", "lstm2onnx/py.typed"):
        assert f"{prefix}/{needed}" in names, needed
    assert {"lstm2onnx/py.typed", "lstm2onnx/data/japanese_vowels.npz"} <= set(zipfile.ZipFile(wheel).namelist())
    runtime_sdist, runtime_wheel = _build(copy / "runtime", tmp_path / "runtime-dist")
    assert any(n.endswith("/LICENSE") for n in tarfile.open(runtime_sdist).getnames())
    wheel_names = zipfile.ZipFile(runtime_wheel).namelist()
    assert "lstm2onnx_runtime/py.typed" in wheel_names and any(n.endswith("licenses/LICENSE") for n in wheel_names)
    assert not [n for n in wheel_names if n.startswith("lstm2onnx/")]  # the runtime wheel carries the runtime only
