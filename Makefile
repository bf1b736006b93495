# Set-up needs only Python 3.11+ and make. Every target creates .venv when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,dev,browse]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ntd-monitor demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check monitor spiders hashes reports tests bench
	$(BIN)/ruff format --check monitor spiders hashes reports tests bench
	$(BIN)/mypy monitor hashes reports spiders

clean:
	rm -rf $(VENV) build *.egg-info
