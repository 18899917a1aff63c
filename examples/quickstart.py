"""Quick start: embed a few sentences with the default model and print their cosine similarities.

Run: make run   (or: python examples/quickstart.py)
"""

from __future__ import annotations

from sbert_plugins import SentenceEncoder, cos_sim

SENTENCES = [
    "A man is playing a harp.",
    "A man plays a keyboard.",
    "A woman is slicing an onion.",
    "Someone is cutting vegetables in the kitchen.",
    "The new movie is awesome.",
]


def main() -> None:
    model = SentenceEncoder()  # sentence-transformers/all-MiniLM-L6-v2, offline through its packaged copy
    embeddings = model.encode(SENTENCES)
    print(f"model: {model.source}  dim={model.embedding_dim}  max_seq_length={model.max_seq_length}")
    scores = cos_sim(embeddings, embeddings)
    width = max(len(s) for s in SENTENCES)
    print(" " * width + "".join(f"  #{j}  " for j in range(len(SENTENCES))))
    for i, sentence in enumerate(SENTENCES):
        print(sentence.ljust(width) + "".join(f" {scores[i, j]:+.2f}" for j in range(len(SENTENCES))) + f"  #{i}")


if __name__ == "__main__":
    main()
