# Set-up, the two Quick-start commands, and the installed-wheel check CI runs. Python 3.10+ on PATH as python3; no GPU needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch==2.13.0 resolves to the local CPU wheel here; a bare `torch` would pull gigabytes of CUDA wheels.
TORCH ?= torch==2.13.0
WHEEL_LIMIT_MB := 50

.PHONY: setup demo test wheel-check web bench clean

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

# The package as a user gets it: a wheel built from the tree, installed into a fresh venv, running a
# short `motion demo` from an empty folder (the models and clips must come from the wheel).
wheel-check:
	rm -rf build/wheel-check build/lib && mkdir -p build/wheel-check/empty  # build/lib: setuptools keeps stale modules there
	$(PYTHON) -m pip wheel -q --no-deps -w build/wheel-check/dist .
	@size=$$(du -m build/wheel-check/dist/*.whl | cut -f1); echo "wheel: $$size MB"; \
		test $$size -lt $(WHEEL_LIMIT_MB) || { echo "the wheel is $$size MB, over $(WHEEL_LIMIT_MB) MB" >&2; exit 1; }
	$(PYTHON) -m venv build/wheel-check/venv
	build/wheel-check/venv/bin/pip install -q "$(TORCH)"
	build/wheel-check/venv/bin/pip install -q build/wheel-check/dist/*.whl
	cd build/wheel-check/empty && ../venv/bin/motion demo --seconds 2 --out out
	test -s build/wheel-check/empty/out/demo.mp4 && test -s build/wheel-check/empty/out/demo-imputed.csv
	build/wheel-check/venv/bin/python -c "from playback.server import WEB; assert all((WEB / f).is_file() for f in ('index.html', 'app.js', 'vendor/three.module.min.js', 'vendor/three.LICENSE'))"

# The page's three.js: the version web/package.json pins, from the npm registry, copied with its
# licence into the package (committed: nothing is fetched at install or run time).
web:
	cd web && npm ci --no-audit --no-fund
	cp web/node_modules/three/build/three.module.min.js playback/web/vendor/
	cp web/node_modules/three/LICENSE playback/web/vendor/three.LICENSE

bench: setup
	$(BIN)/python benchmarks/preprocess.py
	$(BIN)/python benchmarks/drmm.py

clean:
	rm -rf $(VENV) out build *.egg-info
