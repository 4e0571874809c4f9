# The README's two set-up commands: `make demo` and `make test`. Both build .venv from scratch.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of PyTorch; for CUDA elsewhere: make TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu126"
TORCH_SPEC ?= torch==2.13.0
DEMO_DIR ?= demo-output

.PHONY: install demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ".[train,test,onnx,serve,beets,ray]"
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/genrenet demo --out $(DEMO_DIR)

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools

bench: install
	$(BIN)/python benchmarks/extract.py
	$(BIN)/python benchmarks/predict.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) build *.egg-info src/*.egg-info .pytest_cache
