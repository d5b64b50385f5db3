#!/usr/bin/env python3
"""Throughput of the Python package against the CLI, and of Ray Data with one and two actors.

    PYTHONPATH=build/python .venv/bin/python bench/bench_python.py --build build --texts 2000

1. encode() from Python against `embedrt encode` on the same texts and threads: the CLI's
   figure is its wall time less that of the same command on one text (process start, model
   load), so both count tokenization, inference, pooling and handing the vectors over.
2. embedrt.ray.embed on a local Ray cluster: one 1-thread actor against two (each half a CPU of
   a two-CPU cluster, so the read tasks have room), the input materialized first, model loading
   included (the same in both).
Rounds alternate between the sides; figures are medians.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import embedrt

ROOT = Path(__file__).resolve().parents[1]


def corpus(n: int):
    texts = [json.loads(line)["text"] for line in open(ROOT / "test-data" / "corpus.jsonl")]
    rng = np.random.default_rng(1)
    return [texts[i] for i in rng.choice(len(texts), n, replace=False)]


def cli_seconds(cli: str, model: str, path: Path, threads: int) -> float:
    started = time.perf_counter()
    subprocess.run([cli, "encode", "--model", model, "--input", str(path), "--input-format",
                    "jsonl", "--format", "npy", "--output", "/dev/null", "--threads",
                    str(threads), "--batch-size", "32", "--cache-mb", "0"], check=True,
                   capture_output=True)
    return time.perf_counter() - started


def python_vs_cli(args, texts):
    # No embedding cache: later rounds would only look the vectors up.
    model = embedrt.Embedder(args.model, threads=args.threads, cache_mb=0)
    with tempfile.TemporaryDirectory() as tmp:
        full, one = Path(tmp) / "full.jsonl", Path(tmp) / "one.jsonl"
        full.write_text("".join(json.dumps(t) + "\n" for t in texts))
        one.write_text(json.dumps(texts[0]) + "\n")
        py, cli = [], []
        model.encode(texts[:64])  # warm up
        for _ in range(args.rounds):
            started = time.perf_counter()
            model.encode(texts, batch_size=32)
            py.append(time.perf_counter() - started)
            cli.append(cli_seconds(args.cli, args.model, full, args.threads) -
                       cli_seconds(args.cli, args.model, one, args.threads))
    py_rate, cli_rate = len(texts) / statistics.median(py), len(texts) / statistics.median(cli)
    return {"texts": len(texts), "threads": args.threads, "python_texts_per_s": py_rate,
            "cli_texts_per_s": cli_rate, "python_over_cli": py_rate / cli_rate,
            "python_s": py, "cli_s": cli}


def ray_scaling(args, texts):
    import ray
    import embedrt.ray
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(texts)],
                             override_num_blocks=16).materialize()
    times = {1: [], 2: []}
    for _ in range(args.rounds):
        for actors in (1, 2):
            started = time.perf_counter()
            rows = embedrt.ray.embed(ds, args.model, concurrency=actors, batch_size=64,
                                     num_cpus_per_actor=0.5 if actors == 2 else 1,
                                     threads=1).count()
            times[actors].append(time.perf_counter() - started)
            assert rows == len(texts)
    ray.shutdown()
    one, two = statistics.median(times[1]), statistics.median(times[2])
    return {"texts": len(texts), "one_actor_texts_per_s": len(texts) / one,
            "two_actors_texts_per_s": len(texts) / two, "speedup": one / two,
            "one_actor_s": times[1], "two_actors_s": times[2]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--model", default=str(ROOT / "test-data" / "models" / "all-MiniLM-L6-v2"))
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    args.cli = str(Path(args.build) / "embedrt")
    texts = corpus(args.texts)
    info = embedrt.Embedder(args.model, threads=1).info()
    results = {"cpu": info["cpu"], "version": embedrt.__version__,
               "python_vs_cli": python_vs_cli(args, texts)}
    print(json.dumps(results["python_vs_cli"]), flush=True)
    if not args.skip_ray:
        results["ray"] = ray_scaling(args, texts)
        print(json.dumps(results["ray"]), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
