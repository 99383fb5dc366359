# Two commands for a newcomer:
#   make run    set everything up and serve the system on its embedded default (SQLite, a local
#               Prefect server on http://127.0.0.1:4200)
#   make test   set everything up and run the tests
# and for a developer:
#   make lint   ruff, then mypy (strict, configured in pyproject.toml)
PYTHON ?= python3.11
VENV   ?= .venv
BIN     = $(VENV)/bin
PORT   ?= 4200

.PHONY: setup run test lint clean

$(BIN)/stepdown: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

setup: $(BIN)/stepdown

run: setup
	$(BIN)/stepdown serve --port $(PORT)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/python -m ruff check stepdown tests
	$(BIN)/python -m mypy

clean:
	rm -rf $(VENV) .stepdown .pytest_cache
