# Trust Coach: `make run` (set up + start the app) and `make test` (set up + run all tests).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp changes with the dependencies and with the llama.cpp build key (CPU flags, compiler).
STAMP := $(VENV)/.installed-$(shell { cat pyproject.toml scripts/system-packages.txt; $(PY) scripts/build_llama.py --key; } 2>/dev/null | sha256sum | cut -c1-12)
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1

.PHONY: setup run chat test test-fast bench eval lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/system-packages.txt scripts/setup.sh scripts/build_llama.py coach/llm/buildflags.py
	bash scripts/setup.sh "$(PY)" "$(VENV)"
	@rm -f $(VENV)/.installed-*; touch $@

run: setup  ## set up, then start the coach on the embedded local model
	$(BIN)/coach serve

chat: setup
	$(BIN)/coach chat

test: setup  ## set up, then run the whole test suite (real model, servers, browser)
	$(BIN)/python -m pytest -q

test-fast: setup  ## unit tests only (no real model / servers / browser)
	$(BIN)/python -m pytest -q -m "not slow"

bench: setup
	bash benchmarks/run_all.sh

eval: setup
	$(BIN)/coach eval --out eval-out

lint: setup
	$(BIN)/python -m ruff check coach tests benchmarks scripts

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts eval-out
