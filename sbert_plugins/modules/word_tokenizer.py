"""WhitespaceTokenizer: the word tokenizer of the legacy WordEmbeddings and BoW modules."""

from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sbert_plugins._jsonio import read_json, write_json
from sbert_plugins.errors import ConfigError

CONFIG_FILE = "whitespacetokenizer_config.json"
ST_CLASS = "sentence_transformers.sentence_transformer.modules.tokenizer.whitespace.WhitespaceTokenizer"


class WhitespaceTokenizer:
    """Splits on white space and maps each word to its vocabulary id, as the reference does: a word is
    looked up as is, then stripped of punctuation, then lower-cased; stop words and unknown words are dropped.

    Args:
        vocab: the words, in id order.
        stop_words: words never emitted.
        do_lower_case: lower-case the whole text first.
    """

    def __init__(self, vocab: Iterable[str], stop_words: Iterable[str] = (), do_lower_case: bool = False) -> None:
        self.vocab = list(vocab)
        self.stop_words = set(stop_words)
        self.do_lower_case = do_lower_case
        self.word2idx = {word: index for index, word in enumerate(self.vocab)}

    def get_vocab_size(self) -> int:
        return len(self.vocab)

    def tokenize(self, text: str) -> list[int]:
        """The ids of the words of ``text``."""
        if self.do_lower_case:
            text = text.lower()
        ids: list[int] = []
        for word in text.split():
            for candidate in (word, word.strip(string.punctuation), word.strip(string.punctuation).lower()):
                if candidate in self.stop_words:
                    break
                if candidate and candidate in self.word2idx:
                    ids.append(self.word2idx[candidate])
                    break
        return ids

    def get_config_dict(self) -> dict[str, Any]:
        return {"vocab": self.vocab, "stop_words": sorted(self.stop_words), "do_lower_case": self.do_lower_case}

    def save(self, path: Path) -> None:
        write_json(path / CONFIG_FILE, self.get_config_dict())

    @classmethod
    def load(cls, path: Path) -> WhitespaceTokenizer:
        if not (path / CONFIG_FILE).is_file():
            raise ConfigError(f"{path}: {CONFIG_FILE} is missing")
        config = read_json(path / CONFIG_FILE)
        return cls(config.get("vocab", []), config.get("stop_words", []), bool(config.get("do_lower_case", False)))


def check_tokenizer_class(name: object, source: Path) -> None:
    """Only the WhitespaceTokenizer loads; another class (PhraseTokenizer, custom code) is a ConfigError."""
    if not isinstance(name, str) or name.rsplit(".", 1)[-1] != "WhitespaceTokenizer":
        raise ConfigError(
            f"{source}: tokenizer_class {name!r} is not supported; only the WhitespaceTokenizer of "
            "sentence-transformers loads (PhraseTokenizer and custom tokenizers do not)"
        )
