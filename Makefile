# Two commands matter: `make run` and `make test`. Both create .venv and install what
# they need on first use. llama-cpp-python compiles from source the first time (6-9 min
# on 2 cores); pip keeps the built wheel in its cache, so later installs take seconds.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 2087
# A portable build (AVX2, no -march=native): the same wheel works on any x86-64 machine.
# For CUDA: make run CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90"
CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
export CMAKE_ARGS

RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint unit e2e peer model draft model-card doctor clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing copilot-lsp (llama-cpp-python builds from source on first install: several minutes)"
	$(BIN)/python -m pip install --quiet --progress-bar off -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing copilot-lsp with test and training extras"
	$(BIN)/python -m pip install --quiet --progress-bar off -e '.[test,train,bench]'
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	@echo
	@echo "copilot-lsp: starting the language server on $(HOST):$(PORT) with the embedded default model."
	@echo "  The default is a tiny placeholder (4.5M parameters, trained on two CPU cores so that"
	@echo "  everything works offline): its suggestions are weak. For a real code model:"
	@echo "    $(BIN)/copilot-lsp models pull qwen2.5-coder-1.5b && $(BIN)/copilot-lsp models use qwen2.5-coder-1.5b"
	@echo "  ('$(BIN)/copilot-lsp doctor' recommends a size for this machine; README, Models: what each needs)"
	@echo "  Connect an editor to this server (LSP over TCP at $(HOST):$(PORT); plugins in editors/):"
	@echo '    Neovim:  require("copilot_lsp").setup({ server = "$(HOST):$(PORT)" })'
	@echo "    VS Code: set copilotLsp.server.address to $(HOST):$(PORT)"
	@echo "    Others:  point the LSP client at tcp $(HOST):$(PORT)"
	@echo "  Or let the editor start its own: '$(abspath $(BIN))/copilot-lsp serve' (stdio)."
	@echo "  Try it without one: $(BIN)/copilot-lsp complete path/to/file.py:LINE:COL"
	@echo "  Check the install:  $(BIN)/copilot-lsp doctor"
	@echo
	$(BIN)/copilot-lsp serve --tcp $(HOST):$(PORT)

# Every bench suite once with tiny settings: checks the harness works, not the speed.
# Suites that run llama.cpp's own server side by side need it built (once, cached).
BENCH_SUITES := latency cache decode kv speculative batching context quality routing quant load shapes soak vocab nextedit

test: $(TEST_STAMP) peer
	$(BIN)/python -m pytest -q
	@for suite in $(BENCH_SUITES); do \
		echo "bench $$suite --smoke"; \
		$(BIN)/python -m bench $$suite --smoke --out $(VENV)/bench-smoke/$$suite.json || exit 1; \
	done
	$(MAKE) --no-print-directory lint

# llama.cpp's own server, the benchmarks' peer: built from the llama.cpp inside the
# llama-cpp-python sdist of the installed version (about 13 min on 2 cores, once; cached in
# $${XDG_CACHE_HOME:-~/.cache}/copilot-lsp/llama-server/).
peer: $(TEST_STAMP)
	$(BIN)/python -m bench peer

lint: $(TEST_STAMP)
	$(BIN)/ruff check copilot lsp models tests bench
	$(BIN)/mypy

unit: $(TEST_STAMP)
	$(BIN)/python -m pytest -q tests/unit

e2e: $(TEST_STAMP)
	$(BIN)/python -m pytest -q tests/e2e

# The VS Code extension as a .vsix: npm ci (package-lock.json), esbuild, vsce package
# --no-dependencies (the bundle holds everything; packaging needs no network).
VSCODE_EXT := editors/vscode
vsix:
	cd $(VSCODE_EXT) && npm ci --no-audit --no-fund --loglevel=error && npm run package
	@echo "Built $(VSCODE_EXT)/copilot-lsp.vsix; install: code --install-extension $(VSCODE_EXT)/copilot-lsp.vsix"

# The VS Code extension's tests alone (make test runs them too). The first run installs a test
# VS Code (code-server, Node 24, chromium) into $${XDG_CACHE_HOME:-~/.cache}/copilot-lsp/vscode-test.
test-vscode: $(TEST_STAMP)
	$(BIN)/python -m pytest -q tests/editors/test_vscode.py

# Retrain the embedded default pair: the target (about 50 minutes on 2 CPU cores; a CUDA
# GPU is used when present), then its draft distilled from it, then the model card's figures.
model: $(TEST_STAMP)
	$(BIN)/python -m copilot.models.recipe.train --out models/default
	$(MAKE) --no-print-directory draft model-card

draft: $(TEST_STAMP)
	$(BIN)/python -m copilot.models.recipe.distill --teacher models/default --out models/default

# The card compares the distilled draft with the same draft trained without distillation.
model-card: $(TEST_STAMP)
	$(BIN)/python -m copilot.models.recipe.distill --teacher models/default --out $(VENV)/undistilled-draft --kd-weight 0
	$(BIN)/python -m copilot.models.recipe.card --dir models/default --baseline-draft $(VENV)/undistilled-draft/copilot-draft.gguf

doctor: $(RUN_STAMP)
	$(BIN)/copilot-lsp doctor

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
	rm -rf $(VSCODE_EXT)/node_modules $(VSCODE_EXT)/dist $(VSCODE_EXT)/out $(VSCODE_EXT)/*.vsix
