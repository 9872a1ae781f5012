# Two entry points for a fresh machine (Python 3.11 + pip):
#   make run   -> create .venv, install, run the whole DAG on the default config
#   make test  -> create .venv, install with test extras, run every check CI runs
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: setup run run-seeds5-9 run-seeds0-9 readme test test-fast lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: setup
	$(BIN)/snakemake --cores $(CORES)

# The same study on the second, disjoint seed set (tables in results/seeds5-9/tables/).
run-seeds5-9: setup
	$(BIN)/snakemake --cores $(CORES) --configfile config/seeds5-9.yaml

# Both seed sets pooled (tables in results/seeds0-9/tables/; trains what is missing).
run-seeds0-9: setup
	$(BIN)/snakemake --cores $(CORES) --configfile config/seeds0-9.yaml

# The DAG's results (results/tables, the seed sets' verdicts, results/dag_time.json) into
# README.md between its results markers.
readme: setup
	$(BIN)/python -m analysis.readme

lint: setup
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check .
	$(BIN)/python tools/lint_workflow.py

test: lint
	$(BIN)/pytest

# The edit-test loop: ruff and the unit tests (no Snakemake DAG, SLURM or kill -9 runs).
test-fast: setup
	$(BIN)/ruff check .
	$(BIN)/pytest -m "not slow" -q

clean:
	rm -rf results .snakemake
