"""One fusion rule from training to retrieval: the weight ``finetune`` tunes and saves in the re-ranker's
folder ranks the same query's candidates in the same order in finetune's own evaluation, ``SBERTReranker``,
``RerankingRetriever`` and ``sbert-plugins search --rerank``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sbert_plugins import SentenceEncoder
from sbert_plugins.cli import main
from sbert_plugins.cross_encoder import CrossEncoder, read_fusion_record
from sbert_plugins.readers import CorpusDocument, iter_corpus
from tests.conftest import build_tiny_modules
from tests.trainers.finetune.conftest import PASSAGES, QUESTIONS, write_jsonl
from trainers.finetune import FinetuneConfig, finetune
from trainers.finetune.evaluation import evaluate_bi_encoder, fused_heads, query_scores, score_heads, top_ranked

QUERY = "who plays music in the park"


@pytest.fixture(scope="module")
def tuned(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(corpus.jsonl, kept bi-encoder folder, re-ranker folder) of one finetune run on the tiny model."""
    root = tmp_path_factory.mktemp("journey")
    corpus = write_jsonl(
        root / "corpus.jsonl", [{"_id": k, "title": " ".join(v.split()[:3]), "text": v} for k, v in PASSAGES.items()]
    )
    pairs = write_jsonl(
        root / "pairs.jsonl", [{"query": q, "positive_id": d} for d, questions in QUESTIONS.items() for q in questions]
    )
    config = FinetuneConfig(
        base=str(tiny_model_dir),
        output=str(root / "m"),
        reranker_output=str(root / "rr"),
        batch_size=4,
        learning_rate=1e-3,
        hard_negatives=1,
        skip_top=1,
        dev_size=6,
        reranker_min_steps=3,
        reranker_max_length=64,
        show_progress=False,
    )
    finetune(pairs, config, corpus=corpus)
    return corpus, root / "m", root / "rr"


def _finetune_order(
    bi_encoder: SentenceEncoder, reranker: CrossEncoder, corpus: dict[str, str], weight: float
) -> list[str]:
    """The order finetune's evaluation gives QUERY's candidates (its own functions, as run.py calls them)."""
    run = evaluate_bi_encoder(bi_encoder, corpus, {"q": QUERY}, {"q": ["dog"]}, batch_size=8, show_progress=False)
    ranking = top_ranked(query_scores(bi_encoder, [QUERY], run.corpus_embeddings, batch_size=8), list(corpus), 30)
    scored = score_heads(reranker, [QUERY], ranking, [["dog"]], corpus, top_k=30, batch_size=8, show_progress=False)
    return fused_heads(scored, weight)[0]


def test_finetune_reranker_retriever_and_search_rank_alike(
    tuned: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("qdrant_client")
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    from integrations.langchain import RerankingRetriever, SBERTReranker

    corpus_file, kept, reranker_dir = tuned
    record = read_fusion_record(reranker_dir)
    assert record is not None and record.candidates == 30
    bi_encoder = SentenceEncoder(kept, device="cpu")
    assert record.first_stage_fingerprint == bi_encoder.fingerprint
    corpus = {d.id: d.joined for d in iter_corpus([corpus_file]) if isinstance(d, CorpusDocument)}
    documents = [Document(text, id=doc_id) for doc_id, text in corpus.items()]

    class Everything(BaseRetriever):
        def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
            return list(documents)

    common = ["--model", str(kept), "--device", "cpu", "--qdrant", str(tmp_path / "q"), "--collection", "docs"]
    assert main(["ingest", str(corpus_file), *common, "--quiet"]) == 0
    capsys.readouterr()
    n = len(corpus)
    for weight in (record.weight, 0.5):  # the tuned weight, and a mix that surely involves both stages
        expected = _finetune_order(bi_encoder, CrossEncoder(reranker_dir), corpus, weight)
        given = {} if weight == record.weight else {"fusion_weight": weight}
        reranker = SBERTReranker(model=str(reranker_dir), encoder=bi_encoder, top_n=n, **given)
        assert [d.id for d in reranker.rerank(documents, QUERY)] == expected
        retriever = RerankingRetriever(base_retriever=Everything(), reranker=reranker)
        assert [d.id for d in retriever.invoke(QUERY)] == expected
        flags = [] if weight == record.weight else ["--fusion-weight", str(weight)]
        assert main(["search", QUERY, *common, "-k", str(n), "--rerank", str(reranker_dir), *flags, "--json"]) == 0
        assert [hit["id"] for hit in json.loads(capsys.readouterr().out)] == expected


def test_search_refuses_a_recorded_weight_with_another_bi_encoder(
    tuned: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Failed before: search --rerank took no weight from the re-ranker's folder and checked no pairing."""
    corpus_file, _, reranker_dir = tuned
    pytest.importorskip("qdrant_client")
    SentenceEncoder(modules=build_tiny_modules(tmp_path / "build", seed=7), device="cpu").save(tmp_path / "other")
    common = ["--model", str(tmp_path / "other"), "--qdrant", str(tmp_path / "q"), "--collection", "docs"]
    assert main(["ingest", str(corpus_file), *common, "--quiet"]) == 0
    capsys.readouterr()
    code = main(["search", QUERY, *common, "--rerank", str(reranker_dir)])
    err = capsys.readouterr().err
    assert code == 2 and "was tuned with the bi-encoder" in err and "--no-fusion" in err
    assert main(["search", QUERY, *common, "--rerank", str(reranker_dir), "--no-fusion", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert all(0.0 <= hit["score"] <= 1.0 for hit in hits)  # the cross-encoder's own (sigmoid) scores
