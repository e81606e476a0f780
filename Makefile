# Set-up and the two Quick-start commands. Python 3.10+ on PATH as python3; no GPU needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch==2.13.0 resolves to the local CPU wheel here; a bare `torch` would pull gigabytes of CUDA wheels.
TORCH ?= torch==2.13.0

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[test]"
	touch $@

demo: setup
	$(BIN)/motion demo --out out

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/preprocess.py
	$(BIN)/python benchmarks/drmm.py

clean:
	rm -rf $(VENV) out *.egg-info
