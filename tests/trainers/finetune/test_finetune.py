"""The finetune pipeline end to end on the tiny model: outputs, keeping the better model, resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sbert_plugins import SentenceEncoder
from sbert_plugins.errors import ConfigError
from trainers.finetune import FinetuneConfig, finetune
from trainers.finetune.run import _keep_better
from trainers.finetune.state import STATE_FILE, WORK_DIR, RunState
from trainers.state import TrainerState


def _config(tiny_model_dir: Path, output: Path, **overrides: Any) -> FinetuneConfig:
    settings: dict[str, Any] = {
        "base": str(tiny_model_dir),
        "output": str(output),
        "batch_size": 4,
        "learning_rate": 1e-3,
        "hard_negatives": 1,
        "skip_top": 1,
        "dev_size": 6,
        "checkpoint_steps": 1,
        "reranker_min_steps": 3,
        "reranker_max_length": 64,
        "show_progress": False,
    }
    return FinetuneConfig(**{**settings, **overrides})


def test_finetune_writes_a_model_card_metrics_and_a_folder_both_libraries_load(
    tiny_model_dir: Path, pair_files: tuple[Path, Path], tmp_path: Path
) -> None:
    pairs, corpus = pair_files
    out, reranker = tmp_path / "model", tmp_path / "reranker"
    config = _config(
        tiny_model_dir, out, reranker_output=str(reranker), reranker_pseudo_queries=5, reranker_first_stage_scale=20.0
    )
    report = finetune(pairs, config, corpus=corpus)

    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(report))
    assert saved["data"] | {"source": None} == {
        "source": None,
        "pairs": 24,
        "duplicates_removed": 0,
        "queries": 24,
        "train_queries": 16,
        "dev_queries": 6,
        "validation_queries": 2,
        "corpus_documents": 12,
        "training_rows": 16,
        "negatives_per_row": 1,
    }
    assert 0.0 <= saved["fusion_weight"] <= 1.0
    # the 16 training questions, plus up to 5 titles (none of a passage relevant to a dev or validation question)
    assert saved["reranker_training"]["rows"] == 16 + saved["reranker_training"]["title_rows"]
    assert 1 <= saved["reranker_training"]["title_rows"] <= 5
    for part in ("base", "fine_tuned", "reranked", "fused"):
        assert {"ndcg@10", "mrr@10", "recall@100"} <= set(saved[part])
        assert all(0.0 <= saved[part][k] <= 1.0 for k in ("ndcg@10", "mrr@10", "recall@100"))
    assert saved["base"]["recall@100"] == 1.0  # 12 documents: everything is in the top 100
    better = saved["fine_tuned"]["ndcg@10"] > saved["base"]["ndcg@10"]
    assert saved["kept"] == ("fine-tuned" if better else "base")
    assert {"read_and_validate", "split", "base_eval_and_mining", "train", "fine_tuned_eval"} <= set(saved["timings_s"])
    assert {"reranker_train", "reranker_eval"} <= set(saved["timings_s"])
    assert set(saved["cpu_s"]) == set(saved["timings_s"]) and saved["cpu_s"]["train"] > 0
    card = (out / "README.md").read_text()
    assert "library_name: sentence-transformers" in card and "| base |" in card and "+ re-ranker" in card
    assert f"re-ranker mix (weight {saved['fusion_weight']:.2f})" in card
    assert "2 kept from training to choose the re-ranker's mixing weight" in card
    assert "Re-ranker: a cross-encoder" in card and "(title, text) pairs of corpus documents" in card
    assert "trained as a correction of the kept bi-encoder's cosines (times 20.0)" in card
    state = json.loads((out / WORK_DIR / STATE_FILE).read_text())
    train_ids, dev_ids, validation_ids = state["phases"]["split"]
    assert len(validation_ids) == 2 and not set(validation_ids) & (set(train_ids) | set(dev_ids))
    assert not (out / WORK_DIR / "bi-encoder").exists()  # checkpoints and the working copy are cleaned up

    ours = SentenceEncoder(out, device="cpu").encode(["who plays guitar"])
    from integrations.langchain import SBERTEmbeddings

    lc = SBERTEmbeddings(model_name=str(out))
    assert np.allclose(lc.embed_query("who plays guitar"), ours[0], atol=1e-5)
    sentence_transformers = pytest.importorskip("sentence_transformers")
    reference = sentence_transformers.SentenceTransformer(str(out), device="cpu")
    assert np.allclose(reference.encode(["who plays guitar"]), ours, atol=1e-5)

    from sbert_plugins import CrossEncoder

    assert CrossEncoder(reranker).predict([("who plays guitar", "a man plays guitar in the park")]).shape == (1,)


def test_the_better_model_is_kept(tiny_model_dir: Path, tmp_path: Path) -> None:
    trained = tmp_path / "trained"
    changed = SentenceEncoder(tiny_model_dir, device="cpu")
    for parameter in changed.parameters():
        parameter.data.add_(0.5)
    changed.save(trained)
    config = _config(tiny_model_dir, tmp_path / "unused")
    probe = ["the dog eats bread"]
    for base_score, tuned_score, expected, source in ((0.5, 0.6, "fine-tuned", trained), (0.6, 0.5, "base", None)):
        out = tmp_path / expected
        kept = _keep_better(
            {"metrics": {"ndcg@10": base_score}},
            {"metrics": {"ndcg@10": tuned_score}},
            config,
            trained,
            RunState(out, "f", resume=False, overwrite=False),
        )
        assert kept == expected
        reference = SentenceEncoder(source or tiny_model_dir, device="cpu").encode(probe)
        assert np.allclose(SentenceEncoder(out, device="cpu").encode(probe), reference, atol=1e-6)


class _Interrupt:
    """A trainer callback that raises KeyboardInterrupt after ``at`` steps, once; records the steps it saw."""

    def __init__(self, at: int | None) -> None:
        self.at = at
        self.steps: list[int] = []

    def __call__(self, state: TrainerState) -> bool:
        self.steps.append(state.global_step)
        if self.at is not None and state.global_step == self.at:
            raise KeyboardInterrupt
        return False


def test_an_interrupted_run_resumes_where_it_stopped(tiny_model_dir: Path, text_pairs: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    config = _config(tiny_model_dir, out)
    first = _Interrupt(at=2)
    with pytest.raises(KeyboardInterrupt):
        finetune(text_pairs, config, callbacks=[first])
    state = json.loads((out / WORK_DIR / STATE_FILE).read_text())
    assert set(state["phases"]) == {"split", "base_eval_and_mining"}
    base_seconds = state["timings"]["base_eval_and_mining"]

    with pytest.raises(ConfigError, match="not empty; pass --resume"):
        finetune(text_pairs, config)
    with pytest.raises(ConfigError, match="other settings"):
        finetune(text_pairs, _config(tiny_model_dir, out, seed=1), resume=True)

    second = _Interrupt(at=None)
    report = finetune(text_pairs, config, resume=True, callbacks=[second])
    assert first.steps == [1, 2]
    assert second.steps[0] == 3  # continued after the checkpoint of step 2, not from the start
    steps = int(report["training"]["train_steps"])
    assert second.steps == list(range(3, steps + 1))
    assert report["timings_s"]["base_eval_and_mining"] == base_seconds  # not run again

    fresh = finetune(text_pairs, _config(tiny_model_dir, tmp_path / "fresh"))
    assert fresh["fine_tuned"] == pytest.approx(report["fine_tuned"], abs=1e-6)  # same result as uninterrupted


def test_overwrite_starts_over_but_refuses_foreign_folders(tmp_path: Path) -> None:
    out = tmp_path / "model"
    first = RunState(out, "abc", resume=False, overwrite=False)
    first.done("split", [["q1"], ["q2"]], 0.1)
    assert RunState(out, "abc", resume=True, overwrite=False).get("split") == [["q1"], ["q2"]]
    assert RunState(out, "abc", resume=True, overwrite=True).get("split") is None  # overwrite wins
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(ConfigError, match="holds files no finetune run wrote"):
        RunState(foreign, "abc", resume=False, overwrite=True)
    with pytest.raises(ConfigError, match="pass another folder"):
        RunState(foreign, "abc", resume=False, overwrite=False)


def test_large_batches_use_the_cached_loss(tiny_model_dir: Path, text_pairs: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    report = finetune(text_pairs, _config(tiny_model_dir, out, batch_size=8, cached_above=3))
    assert report["training"]["cached_loss"] == 1.0 and np.isfinite(report["training"]["train_loss"])
    assert "CachedMultipleNegativesRankingLoss, no-duplicates batches of 8" in (out / "README.md").read_text()
    assert _config(tiny_model_dir, out).cached_above == 64


def test_pseudo_queries_leave_out_documents_of_held_out_questions(tmp_path: Path) -> None:
    from trainers.finetune.pairs import RetrievalData
    from trainers.finetune.run import _pseudo_query_documents

    data = RetrievalData(
        corpus={f"d{i}": f"title {i} text {i}" for i in range(6)},
        titled={f"d{i}": (f"title {i}", f"text {i}") for i in range(5)},  # d5 has no title
        queries={"q1": "one", "q2": "two"},
        relevant={"q1": ["d0"], "q2": ["d1", "d2"]},
    )
    config = FinetuneConfig(
        output=str(tmp_path / "out"), reranker_output=str(tmp_path / "rr"), reranker_pseudo_queries=9
    )
    chosen = _pseudo_query_documents(data, config, ["q2"])
    assert sorted(chosen) == ["d0", "d3", "d4"]
    assert _pseudo_query_documents(data, config, ["q2"]) == chosen  # seeded
    assert _pseudo_query_documents(data, config.model_copy(update={"reranker_output": None}), ["q2"]) == []
