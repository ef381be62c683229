# Two entry points for a fresh machine (see README): `make demo` and `make test`.
# Each creates the virtual environment on first use and installs the package with what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "imu needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	@echo 'imu: a bundled 30-minute fatigued run replayed through the live pipeline at 20x: open http://127.0.0.1:8050/ (Ctrl-C to stop)'
	$(BIN)/imu replay recordings/simulated_fatigue_run --speed 20

lint: $(STAMP)
	$(BIN)/ruff check imu tests benchmarks
	$(BIN)/ruff format --check imu tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
