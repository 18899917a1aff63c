"""One-GPU check of mixed-precision training: fp32, bf16 and fp16 steps of the Trainer, with steps/s.

For each precision: a fresh copy of the model, ``--steps`` optimizer steps of MultipleNegativesRankingLoss on
synthetic (anchor, positive) pairs (the positive is the anchor's words, a few dropped and shuffled: a task a
model can learn quickly). Reported per precision: steps/s measured between the end of the warmup steps and
the last step (CUDA synchronised at both ends), peak GPU memory, the mean logged loss of the first and of the
last five steps, and the checks: every logged loss finite, every weight finite, the weights moved, the loss
went down. The exit status is 1 when a check fails.

The model: ``--model PATH`` (a sentence-transformers folder), else the packaged all-MiniLM-L6-v2 when
installed, else a randomly initialised BERT of MiniLM's shape (6 layers, width 384) with a small vocabulary.

Without CUDA the script says so and exits with status 1 (CI never runs it). ``--allow-cpu`` runs fp32 and
bf16 on the CPU instead, only to check that the script itself works (its timings mean nothing).

Run:  python benchmarks/gpu_train_check.py                      (60 steps, batch 64, all three precisions)
      python benchmarks/gpu_train_check.py --json $OUT/gpu.json  (also write the results as JSON)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from sbert_plugins import SentenceEncoder
from sbert_plugins.loading import packaged_default_path
from trainers import Trainer, TrainerState, TrainingConfig, losses

WORDS = """
a the man woman child dog cat horse bird plays guitar piano eats food bread apple runs walks street park car
bike sits chair table red blue green big small happy young old two three people group boy girl water swims
ball kicks sings song cooks kitchen reads book writes letter computer phone music dances sleeps tree house
road city river mountain train station morning evening quickly slowly near under over inside outside
""".split()  # noqa: SIM905


def synthetic_pairs(count: int, seed: int = 0) -> list[dict[str, str]]:
    """``count`` rows {anchor, positive}: a random 8-16 word sentence and the same words, 2 dropped, shuffled."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 16))]
        kept = words[:]
        for _ in range(2):
            kept.pop(rng.randrange(len(kept)))
        rng.shuffle(kept)
        rows.append({"anchor": " ".join(words), "positive": " ".join(kept)})
    return rows


def model_folder(requested: str | None, scratch: Path) -> Path:
    """The model to train: ``requested``, the packaged MiniLM, or a random MiniLM-shaped BERT saved in ``scratch``."""
    if requested:
        return Path(requested)
    packaged = packaged_default_path()
    if packaged is not None:
        return Path(packaged)
    from transformers import BertConfig, BertModel, BertTokenizerFast  # type: ignore[attr-defined]

    from sbert_plugins.modules import Pooling, Transformer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(WORDS))]
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536
    )
    modules = [Transformer(BertModel(config), tokenizer, max_seq_length=128), Pooling(384, "mean")]
    folder = scratch / "random-minilm-shape"
    SentenceEncoder(modules=modules, device="cpu").save(folder)
    return folder


def run_precision(
    folder: Path, precision: str, device: str, rows: list[dict[str, str]], args: argparse.Namespace, out: Path
) -> dict[str, Any]:
    """Train a fresh copy of the model at ``precision``; returns the measurements and checks."""
    model = SentenceEncoder(folder, device=device)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    marks: dict[int, float] = {}

    def clock(state: TrainerState) -> None:
        if state.global_step in (args.warmup, args.steps):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            marks[state.global_step] = time.perf_counter()

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    config = TrainingConfig(
        output_dir=str(out / precision),
        batch_size=args.batch_size,
        max_steps=args.steps,
        learning_rate=args.lr,
        warmup_ratio=0.1,
        precision=precision,  # type: ignore[arg-type]
        batch_sampler="no_duplicates",
        logging_steps=1,
        show_progress=False,
        seed=0,
    )
    loss = losses.MultipleNegativesRankingLoss(model)
    trainer = Trainer(model, loss=loss, train_data=rows, config=config, callbacks=[clock])
    metrics = trainer.train()
    log = [json.loads(line) for line in (out / precision / "training_log.jsonl").read_text().splitlines()]
    logged = [r["loss"] for r in log if "loss" in r]
    after = model.state_dict()
    seconds = marks[args.steps] - marks[args.warmup]
    first, last = sum(logged[:5]) / len(logged[:5]), sum(logged[-5:]) / len(logged[-5:])
    checks = {
        "losses_finite": all(math.isfinite(v) for v in logged),
        "weights_finite": all(bool(torch.isfinite(v).all()) for v in after.values() if v.is_floating_point()),
        "weights_moved": any(not torch.equal(before[k], after[k].to(before[k].device)) for k in before),
        "loss_went_down": last < first,
    }
    return {
        "precision": precision,
        "steps_per_s": (args.steps - args.warmup) / seconds,
        "rows_per_s": (args.steps - args.warmup) * args.batch_size / seconds,
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None,
        "first_loss": first,
        "last_loss": last,
        "train_loss": metrics["train_loss"],
        "checks": checks,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="sentence-transformers folder (default: packaged MiniLM)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10, help="steps left out of the timing (CUDA start-up)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "fp16"], choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--allow-cpu", action="store_true", help="without CUDA, smoke-test fp32/bf16 on the CPU")
    args = parser.parse_args()
    if not 0 < args.warmup < args.steps:
        parser.error("--warmup must be at least 1 and less than --steps")

    if torch.cuda.is_available():
        device, precisions = "cuda", list(args.precisions)
        if "bf16" in precisions and not torch.cuda.is_bf16_supported():
            print("this GPU has no bf16 support: bf16 left out")
            precisions.remove("bf16")
        print(f"GPU: {torch.cuda.get_device_name()}  torch {torch.__version__}")
    elif args.allow_cpu:
        device, precisions = "cpu", [p for p in args.precisions if p != "fp16"]
        print("CUDA is not available: smoke-testing the script on the CPU (fp16 left out; timings mean nothing)")
    else:
        print(
            "CUDA is not available: this check trains on one GPU and was not run. Run it on a CUDA machine, "
            "or pass --allow-cpu to smoke-test the script on the CPU.",
            file=sys.stderr,
        )
        return 1

    rows = synthetic_pairs(args.steps * args.batch_size)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = model_folder(args.model, Path(scratch))
        print(f"model: {folder}  steps: {args.steps} (timed after {args.warmup})  batch: {args.batch_size}")
        for precision in precisions:
            result = run_precision(folder, precision, device, rows, args, Path(scratch) / "runs")
            results.append(result)
            memory = f"{result['peak_gpu_mib']:.0f} MiB" if result["peak_gpu_mib"] is not None else "n/a"
            failed = [name for name, ok in result["checks"].items() if not ok]
            print(
                f"{precision:>5}: {result['steps_per_s']:7.2f} steps/s  {result['rows_per_s']:8.1f} rows/s  "
                f"peak {memory}  loss {result['first_loss']:.4f} -> {result['last_loss']:.4f}  "
                f"{'ok' if not failed else 'FAILED: ' + ', '.join(failed)}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"device": device, "results": results}, indent=2) + "\n")
    return 0 if all(all(r["checks"].values()) for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
