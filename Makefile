# Two entry points, each bootstrapping its own virtual environment in .venv:
#   make run    builds the seed's example networks, runs them in onnxruntime, prints tables and shapes
#   make test   runs the test suite
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test clean

$(STAMP): pyproject.toml runtime/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]" -e "./runtime[cpu]"
	# Triton's server for the serving tests: only the wheel's binary is used, its numpy<2 pin would clash (README: Serving on Triton)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -c constraints.txt nvidia-pytriton
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/python -m lstm2onnx.examples

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
