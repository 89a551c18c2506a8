# Kassa: `make run` starts everything, `make test` runs the whole suite.
# Both create the virtual environment and install on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test schema bench clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/kassa run

test: install
	$(BIN)/python -m pytest -q

schema: install
	$(BIN)/kassa export-schema > schema.graphql

# Every bench/*.py is a benchmark except harness.py, the module they share.
BENCHMARKS := $(sort $(filter-out bench/harness.py,$(wildcard bench/*.py)))

bench: install
	for b in $(BENCHMARKS); do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .data .pytest_cache
