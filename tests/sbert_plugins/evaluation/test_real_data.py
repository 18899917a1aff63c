"""STSb dev with the packaged all-MiniLM-L6-v2: ``sbert-plugins evaluate`` (our evaluator) prints the
reference evaluator's Spearman."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sbert_plugins.cli import main
from sbert_plugins.evaluation.readers import read_sts

pytestmark = pytest.mark.slow


def test_stsb_dev_spearman_matches_the_reference_and_the_cli_prints_it(
    minilm_dir: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    st = pytest.importorskip("sentence_transformers")
    ref_eval = pytest.importorskip("sentence_transformers.sentence_transformer.evaluation")
    dev = data_dir / "stsb" / "stsb-en-dev.csv"
    data = read_sts(dev, score_scale=5)
    assert len(data.scores) == 1500

    reference_model = st.SentenceTransformer(str(minilm_dir), device="cpu")
    reference_model.eval()
    reference = ref_eval.EmbeddingSimilarityEvaluator(data.sentences1, data.sentences2, data.scores)
    reference_spearman = reference(reference_model)["spearman_cosine"]

    # The command runs our EmbeddingSimilarityEvaluator (one encoding pass of the real model is enough).
    output = tmp_path / "sts.json"
    argv = ["evaluate", "--model", str(minilm_dir), "--device", "cpu", "--sts", str(dev), "--score-scale", "5"]
    assert main([*argv, "--similarity", "cosine", "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    match = re.search(r"^spearman_cosine +([0-9.]+)$", printed, re.MULTILINE)
    assert match is not None, printed
    metrics = json.loads(output.read_text())["metrics"]
    spearman = metrics["spearman_cosine"]
    assert float(match.group(1)) == pytest.approx(spearman, abs=1e-6)
    assert spearman == pytest.approx(reference_spearman, abs=5e-4)
    assert spearman > 0.8  # all-MiniLM-L6-v2 is a good STS model
