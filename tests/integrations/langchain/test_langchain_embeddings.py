"""SBERTEmbeddings: arguments, late loading and sharing, parity with SentenceEncoder, prompts, async."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from integrations.langchain import SBERTEmbeddings
from integrations.langchain import embeddings as embeddings_module
from sbert_plugins import SentenceEncoder
from sbert_plugins.errors import ConfigError

TEXTS = ["A man is playing a guitar.", "A dog runs in the park.", "Two people eat bread in the kitchen."]


# ---- construction ------------------------------------------------------------------------------


def test_constructor_does_not_load_the_model(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path) -> None:
    loads: list[object] = []
    real = embeddings_module.SentenceEncoder

    def counting(*args: object, **kwargs: object) -> SentenceEncoder:
        loads.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(embeddings_module, "SentenceEncoder", counting)
    embeddings = SBERTEmbeddings(model_name=str(tiny_model_dir), device="cpu")
    assert loads == []
    embeddings.embed_query("hello")
    embeddings.embed_documents(["a", "b"])
    embeddings.warm_up()
    assert embeddings.embedding_dim == 32
    assert len(loads) == 1


def test_concurrent_first_use_loads_once(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path) -> None:
    loads: list[object] = []
    real = embeddings_module.SentenceEncoder
    started = threading.Barrier(4)

    def counting(*args: object, **kwargs: object) -> SentenceEncoder:
        loads.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(embeddings_module, "SentenceEncoder", counting)
    embeddings = SBERTEmbeddings(model_name=str(tiny_model_dir), device="cpu")

    def use() -> None:
        started.wait()
        embeddings.embed_query("hello world")

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1


def test_settings_round_trip_through_json(tiny_model_dir: Path) -> None:
    embeddings = SBERTEmbeddings(
        model_name=tiny_model_dir, device="cpu", batch_size=8, normalize=True, query_prompt="q: ", truncate_dim=16
    )
    again = SBERTEmbeddings.model_validate_json(embeddings.model_dump_json())
    assert again.model_dump() == {**embeddings.model_dump(), "model_name": str(tiny_model_dir)}
    np.testing.assert_allclose(again.embed_query("hello"), embeddings.embed_query("hello"), rtol=0, atol=1e-6)


def test_misspelt_argument_is_an_error() -> None:
    with pytest.raises(ValidationError, match="normalise"):
        SBERTEmbeddings(normalise=True)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "kwargs",
    [{"batch_size": 0}, {"batch_size": True}, {"truncate_dim": 0}, {"precision": "fp8"}, {"model": "not an encoder"}],
)
def test_invalid_arguments_are_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SBERTEmbeddings(**kwargs)  # type: ignore[arg-type]


def test_model_excludes_loading_arguments(tiny_encoder: SentenceEncoder) -> None:
    with pytest.raises(ValidationError, match="model_name, device"):
        SBERTEmbeddings(model=tiny_encoder, model_name="x", device="cpu")
    with pytest.raises(ValidationError, match="precision"):
        SBERTEmbeddings(model=tiny_encoder, precision="fp16")


def test_truncate_dim_larger_than_model_is_an_error(tiny_encoder: SentenceEncoder, tiny_model_dir: Path) -> None:
    with pytest.raises(ValidationError, match="truncate_dim=64 is larger than the model's dimension 32"):
        SBERTEmbeddings(model=tiny_encoder, truncate_dim=64)
    lazy = SBERTEmbeddings(model_name=str(tiny_model_dir), device="cpu", truncate_dim=64)
    with pytest.raises(ConfigError, match="use a value from 1 to 32"):
        lazy.embed_query("hello")


def test_shared_encoder_is_used_as_is(tiny_encoder: SentenceEncoder, count_forward) -> None:
    first = SBERTEmbeddings(model=tiny_encoder)
    second = SBERTEmbeddings(model=tiny_encoder, normalize=True)
    assert first.encoder is tiny_encoder and second.encoder is tiny_encoder
    counter = count_forward(tiny_encoder)
    first.embed_query("hello")
    second.embed_query("hello")
    assert counter.calls == 2


def test_embedding_dim_comes_from_metadata_without_encoding(tiny_encoder: SentenceEncoder, count_forward) -> None:
    counter = count_forward(tiny_encoder)
    assert SBERTEmbeddings(model=tiny_encoder).embedding_dim == 32
    assert SBERTEmbeddings(model=tiny_encoder, truncate_dim=8).embedding_dim == 8
    assert counter.calls == 0


# ---- results -----------------------------------------------------------------------------------


def test_types_and_shapes(tiny_encoder: SentenceEncoder) -> None:
    embeddings = SBERTEmbeddings(model=tiny_encoder)
    vectors = embeddings.embed_documents(TEXTS)
    query = embeddings.embed_query("hello")
    assert isinstance(vectors, list) and all(isinstance(v, list) for v in vectors)
    assert all(isinstance(x, float) for v in vectors for x in v)
    assert isinstance(query, list) and all(isinstance(x, float) for x in query)
    assert [len(v) for v in vectors] == [32, 32, 32] and len(query) == 32
    assert embeddings.embed_documents([]) == []


def test_equal_to_encoder_without_prompts(tiny_encoder: SentenceEncoder) -> None:
    embeddings = SBERTEmbeddings(model=tiny_encoder)
    expected = tiny_encoder.encode(TEXTS)
    np.testing.assert_allclose(embeddings.embed_documents(TEXTS), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(embeddings.embed_query(TEXTS[0]), expected[0], rtol=0, atol=1e-6)


def test_saved_prompts_make_queries_and_documents_differ_exactly_as_the_encoder(prompted_model_dir: Path) -> None:
    embeddings = SBERTEmbeddings(model_name=str(prompted_model_dir), device="cpu")
    encoder = SentenceEncoder(prompted_model_dir, device="cpu")
    assert embeddings.prompt_for("query") == "query: " and embeddings.prompt_for("document") == "passage: "

    documents = np.array(embeddings.embed_documents(TEXTS))
    queries = np.array([embeddings.embed_query(text) for text in TEXTS])
    np.testing.assert_allclose(documents, encoder.encode_documents(TEXTS), rtol=0, atol=1e-6)
    np.testing.assert_allclose(queries, encoder.encode_queries(TEXTS), rtol=0, atol=1e-6)
    np.testing.assert_allclose(documents, encoder.encode(["passage: " + t for t in TEXTS]), rtol=0, atol=1e-6)
    assert np.abs(documents - queries).max() > 1e-3  # different prompts, different vectors


def test_explicit_prompts_override_the_saved_ones(prompted_model_dir: Path, tiny_encoder: SentenceEncoder) -> None:
    plain = SBERTEmbeddings(model_name=str(prompted_model_dir), device="cpu", query_prompt="", document_prompt="")
    np.testing.assert_allclose(plain.embed_query(TEXTS[0]), plain.embed_documents(TEXTS[:1])[0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(plain.embed_query(TEXTS[0]), tiny_encoder.encode(TEXTS[0]), rtol=0, atol=1e-6)

    custom = SBERTEmbeddings(model=tiny_encoder, query_prompt="search: ")
    np.testing.assert_allclose(
        custom.embed_query(TEXTS[0]), tiny_encoder.encode("search: " + TEXTS[0]), rtol=0, atol=1e-6
    )


def test_default_prompt_of_the_model_is_used_like_encode(tiny_model_dir: Path) -> None:
    encoder = SentenceEncoder(
        tiny_model_dir, device="cpu", prompts={"classify": "topic: "}, default_prompt_name="classify"
    )
    embeddings = SBERTEmbeddings(model=encoder)
    assert embeddings.prompt_for("query") == "topic: "
    np.testing.assert_allclose(embeddings.embed_query(TEXTS[0]), encoder.encode_queries(TEXTS[0]), rtol=0, atol=1e-6)


def test_normalize_and_truncate_dim(tiny_encoder: SentenceEncoder) -> None:
    embeddings = SBERTEmbeddings(model=tiny_encoder, normalize=True, truncate_dim=8)
    vectors = np.array(embeddings.embed_documents(TEXTS))
    assert vectors.shape == (3, 8)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors, tiny_encoder.encode(TEXTS, normalize=True, truncate_dim=8), rtol=0, atol=1e-6)


def test_batch_size_bounds_each_forward_pass(tiny_encoder: SentenceEncoder, count_forward) -> None:
    counter = count_forward(tiny_encoder)
    SBERTEmbeddings(model=tiny_encoder, batch_size=2).embed_documents(TEXTS * 2)
    assert counter.batch_sizes == [2, 2, 2]


def test_wrong_input_types(tiny_encoder: SentenceEncoder) -> None:
    embeddings = SBERTEmbeddings(model=tiny_encoder)
    with pytest.raises(TypeError, match="index 1 is int"):
        embeddings.embed_documents(["a", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="single str"):
        embeddings.embed_documents("abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="query as a str"):
        embeddings.embed_query(["abc"])  # type: ignore[arg-type]


# ---- async -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_async_results_equal_sync(prompted_model_dir: Path) -> None:
    embeddings = SBERTEmbeddings(model_name=str(prompted_model_dir), device="cpu")
    queries = await asyncio.gather(*(embeddings.aembed_query(text) for text in TEXTS))
    documents = await embeddings.aembed_documents(TEXTS)
    np.testing.assert_allclose(queries, [embeddings.embed_query(text) for text in TEXTS], rtol=0, atol=1e-6)
    np.testing.assert_allclose(documents, embeddings.embed_documents(TEXTS), rtol=0, atol=1e-6)
    assert await embeddings.aembed_documents([]) == []


@pytest.mark.asyncio
async def test_concurrent_queries_share_forward_passes(tiny_encoder: SentenceEncoder, count_forward) -> None:
    embeddings = SBERTEmbeddings(model=tiny_encoder, batch_size=32)
    counter = count_forward(tiny_encoder)
    queries = [f"query number {i} about a dog in the park" for i in range(64)]
    vectors = await asyncio.gather(*(embeddings.aembed_query(q) for q in queries))
    assert counter.calls == 2  # 64 queries, batch_size 32: two forward passes, not 64
    assert sorted(counter.batch_sizes) == [32, 32]
    np.testing.assert_allclose(vectors, tiny_encoder.encode(queries), rtol=0, atol=1e-5)


@pytest.mark.asyncio
async def test_queries_arriving_during_a_batch_form_the_next_batch(tiny_encoder: SentenceEncoder) -> None:
    embeddings = SBERTEmbeddings(model=tiny_encoder)
    batches: list[list[str]] = []
    in_first_batch = threading.Event()
    release_first_batch = threading.Event()
    real_encode = tiny_encoder.encode

    def recording_encode(texts: list[str], **kwargs: object) -> np.ndarray:
        batches.append(list(texts))
        if len(batches) == 1:
            in_first_batch.set()
            release_first_batch.wait(timeout=30)
        return real_encode(texts, **kwargs)  # type: ignore[arg-type]

    tiny_encoder.encode = recording_encode  # type: ignore[method-assign]
    first = asyncio.ensure_future(embeddings.aembed_query("first"))
    while not in_first_batch.is_set():  # the loop keeps running while the first batch encodes
        await asyncio.sleep(0.001)
    later = [asyncio.ensure_future(embeddings.aembed_query(f"later {i}")) for i in range(5)]
    await asyncio.sleep(0)
    release_first_batch.set()
    await asyncio.gather(first, *later)
    assert batches == [["first"], [f"later {i}" for i in range(5)]]


@pytest.mark.asyncio
async def test_encoding_runs_off_the_event_loop(tiny_encoder: SentenceEncoder) -> None:
    """The encode waits for a signal that only a coroutine on the loop can send: it would deadlock
    (and fail after the timeout) if the encode ran on the event loop's thread."""
    embeddings = SBERTEmbeddings(model=tiny_encoder)
    loop_thread = threading.get_ident()
    encode_threads: list[int] = []
    signal = threading.Event()
    real_encode = tiny_encoder.encode

    def waiting_encode(texts: list[str], **kwargs: object) -> np.ndarray:
        encode_threads.append(threading.get_ident())
        if not signal.wait(timeout=30):
            raise RuntimeError("the event loop was blocked while encoding")
        return real_encode(texts, **kwargs)  # type: ignore[arg-type]

    async def send_signal() -> None:
        while not encode_threads:
            await asyncio.sleep(0.001)
        signal.set()

    tiny_encoder.encode = waiting_encode  # type: ignore[method-assign]
    vectors, _ = await asyncio.gather(embeddings.aembed_documents(TEXTS), send_signal())
    assert len(vectors) == 3
    assert encode_threads and loop_thread not in encode_threads


@pytest.mark.asyncio
async def test_queries_and_documents_are_batched_apart(prompted_model_dir: Path) -> None:
    embeddings = SBERTEmbeddings(model_name=str(prompted_model_dir), device="cpu")
    query, documents = await asyncio.gather(embeddings.aembed_query(TEXTS[0]), embeddings.aembed_documents(TEXTS))
    np.testing.assert_allclose(query, embeddings.embed_query(TEXTS[0]), rtol=0, atol=1e-6)
    np.testing.assert_allclose(documents, embeddings.embed_documents(TEXTS), rtol=0, atol=1e-6)


@pytest.mark.asyncio
async def test_an_encoding_error_reaches_every_caller_of_the_batch(tiny_encoder: SentenceEncoder) -> None:
    embeddings = SBERTEmbeddings(model=tiny_encoder)

    def failing_encode(texts: list[str], **kwargs: object) -> np.ndarray:
        raise RuntimeError("out of memory")

    tiny_encoder.encode = failing_encode  # type: ignore[method-assign]
    results = await asyncio.gather(*(embeddings.aembed_query(f"q{i}") for i in range(3)), return_exceptions=True)
    assert [str(r) for r in results] == ["out of memory"] * 3


@pytest.mark.asyncio
async def test_async_input_errors_are_raised_before_batching(tiny_encoder: SentenceEncoder, count_forward) -> None:
    embeddings = SBERTEmbeddings(model=tiny_encoder)
    counter = count_forward(tiny_encoder)
    good = asyncio.ensure_future(embeddings.aembed_query("fine"))
    with pytest.raises(TypeError, match="query as a str"):
        await embeddings.aembed_query(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="index 0 is NoneType"):
        await embeddings.aembed_documents([None])  # type: ignore[list-item]
    assert len(await good) == 32  # a bad request does not fail the others
    assert counter.calls == 1


def test_threads_sharing_a_model_in_training_mode_get_eval_mode_results(tiny_encoder: SentenceEncoder) -> None:
    """encode() switches a training-mode model to eval and back when done. Forced interleaving: thread A
    starts first and, unless the adapter serialises the calls, finishes (switching dropout back on)
    while thread B is inside its forward pass, so B would get dropout-noised embeddings."""
    tiny_encoder.train()
    expected = {"A": tiny_encoder.encode("a dog runs in the park"), "B": tiny_encoder.encode("a cat sits")}
    embeddings = SBERTEmbeddings(model=tiny_encoder)
    a_in_forward, b_in_forward, a_done = threading.Event(), threading.Event(), threading.Event()

    def pause(module: object, args: object) -> None:
        if threading.current_thread().name == "A":
            a_in_forward.set()
            b_in_forward.wait(timeout=1)  # with the adapter's lock B cannot get there: go on after 1 s
        elif threading.current_thread().name == "B":
            b_in_forward.set()
            a_done.wait(timeout=10)

    results: dict[str, list[float]] = {}

    def run(name: str, text: str) -> None:
        results[name] = embeddings.embed_query(text)
        if name == "A":
            a_done.set()

    handle = tiny_encoder.register_forward_pre_hook(pause)
    try:
        first = threading.Thread(target=run, args=("A", "a dog runs in the park"), name="A")
        second = threading.Thread(target=run, args=("B", "a cat sits"), name="B")
        first.start()
        a_in_forward.wait(timeout=10)
        second.start()
        first.join()
        second.join()
    finally:
        handle.remove()
    np.testing.assert_allclose(results["A"], expected["A"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(results["B"], expected["B"], rtol=0, atol=1e-5)
    assert tiny_encoder.training  # the caller's mode is left as it was


def test_event_loops_in_two_threads(tiny_encoder: SentenceEncoder) -> None:
    embeddings = SBERTEmbeddings(model=tiny_encoder)
    results: dict[str, list[list[float]]] = {}

    def run(name: str) -> None:
        async def queries() -> list[list[float]]:
            return await asyncio.gather(*(embeddings.aembed_query(f"{name} {i}") for i in range(4)))

        results[name] = asyncio.run(queries())

    threads = [threading.Thread(target=run, args=(name,)) for name in ("dog", "cat")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in ("dog", "cat"):
        np.testing.assert_allclose(
            results[name], tiny_encoder.encode([f"{name} {i}" for i in range(4)]), rtol=0, atol=1e-5
        )
