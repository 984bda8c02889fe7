# srlab: two commands to remember: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
# A hung notebook cell fails after this many seconds instead of eating the CI budget.
CELL_TIMEOUT ?= 300

.PHONY: setup demo test lint lab exercises clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-cache-dir -e ".[dev]"
	@touch $@

setup: $(VENV)/.installed

demo: setup
	$(PY) -m srlab demo

lint: setup
	$(PY) -m ruff check srlab tests notebooks solutions exercises

test: setup lint
	SRLAB_FAST=1 SRLAB_OFFLINE=1 $(PY) -m pytest tests notebooks solutions exercises \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=$(CELL_TIMEOUT) -p no:cacheprovider

lab: setup
	$(PY) -m jupyter lab notebooks

# exercises/ is generated from solutions/ (see INSTRUCTORS.md); a test fails when it is stale
exercises: setup
	$(PY) -m srlab course build

clean:
	rm -rf $(VENV) outputs .pytest_cache .ruff_cache
