"""A text far longer than the model reads costs no more than a page: only its head is tokenized, and the
embedding and the truncation count stay those of the whole text (issue #19 point 8; before the fix the whole
text was tokenized twice)."""

from __future__ import annotations

import pytest

from sbert_plugins import SentenceEncoder
from sbert_plugins.encoder import CHARS_PER_TOKEN_BOUND, head_of


def _recording(encoder: SentenceEncoder, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    longest: list[int] = []
    original = encoder.transformer.token_ids

    def token_ids(texts: list[str], *, truncate: bool = True) -> list[list[int]]:
        longest.append(max((len(t) for t in texts), default=0))
        return original(texts, truncate=truncate)

    monkeypatch.setattr(encoder.transformer, "token_ids", token_ids)
    return longest


def test_a_huge_text_is_read_only_up_to_its_head(
    tiny_encoder: SentenceEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    huge = "the dog eats bread in the kitchen " * 60_000  # about 2 MB
    short = "a man plays guitar"
    expected = tiny_encoder.encode([huge[:2000], short])  # 2,000 characters already hold > 64 tokens
    longest = _recording(tiny_encoder, monkeypatch)
    found = tiny_encoder.encode([huge, short])
    assert max(longest) <= tiny_encoder.max_seq_length * CHARS_PER_TOKEN_BOUND
    assert abs(found - expected).max() < 1e-6
    assert tiny_encoder.last_truncated_count == 1


def test_mostly_blank_long_texts_are_still_read_whole(tiny_encoder: SentenceEncoder) -> None:
    sparse = "dog" + " " * 10_000 + "cat"  # few tokens over many characters: the head does not settle it
    blob = "x" * 10_000  # no word boundary at all
    whole = [tiny_encoder.transformer.token_ids([t])[0] for t in (sparse, blob)]
    ids, truncated = tiny_encoder._token_ids(tiny_encoder.transformer, [sparse, blob])
    assert ids == whole and truncated == 0


def test_heads_end_at_a_word_boundary() -> None:
    text = "one two three " * 100
    head = head_of(text, 50)
    assert text.startswith(head) and not head.endswith(" ") and len(head) <= 50
    assert head_of("short", 50) == "short"
