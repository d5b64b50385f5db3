#!/usr/bin/env python3
"""Tokenizer throughput, embedrt vs HF tokenizers (Rust, via its Python binding's encode_batch),
same corpus, same thread counts, in one run. Prints a Markdown table and writes JSON.

    .venv/bin/python bench/bench_tokenizer.py --build build --out bench/results/tokenizer.json
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def hf_rate(tokenizer_path: Path, texts, threads: int, repeats: int) -> dict:
    # RAYON_NUM_THREADS is read once per process, so each thread count runs in a child process.
    code = f"""
import json, sys, time
from tokenizers import Tokenizer
t = Tokenizer.from_file({str(tokenizer_path)!r}); t.no_truncation(); t.no_padding()
texts = json.load(sys.stdin)
rates = []
for _ in range({repeats}):
    start = time.perf_counter()
    enc = t.encode_batch(texts, add_special_tokens=True)
    seconds = time.perf_counter() - start
    tokens = sum(len(e.ids) for e in enc)
    rates.append(tokens / seconds)
print(json.dumps({{"tokens": tokens, "tokens_per_second_runs": rates}}))
"""
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="true")
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(texts), text=True,
                         capture_output=True, env=env, check=True)
    result = json.loads(out.stdout)
    result["tokens_per_second_median"] = statistics.median(result["tokens_per_second_runs"])
    return result


def embedrt_rate(binary: Path, tokenizer_path: Path, corpus: Path, threads: int,
                 repeats: int) -> dict:
    out = subprocess.run([str(binary), str(tokenizer_path), str(corpus), str(threads),
                          str(repeats)], text=True, capture_output=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--test-data", default=str(ROOT / "test-data"))
    parser.add_argument("--tokenizers", default="minilm,bert-cased,unigram,bpe")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "tokenizer.json"))
    args = parser.parse_args()

    test_data = Path(args.test_data)
    corpus = test_data / "corpus.jsonl"
    texts = [json.loads(line)["text"] for line in corpus.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    binary = Path(args.build) / "bench" / "embedrt_tokenizer_throughput"
    rows = []
    for name in args.tokenizers.split(","):
        path = test_data / "tokenizers" / name / "tokenizer.json"
        for threads in map(int, args.threads.split(",")):
            ours = embedrt_rate(binary, path, corpus, threads, args.repeats)
            theirs = hf_rate(path, texts, threads, args.repeats)
            if ours["tokens"] != theirs["tokens"]:
                raise SystemExit(f"{name}: token counts differ: embedrt {ours['tokens']}, "
                                 f"HF {theirs['tokens']}")
            rows.append({"tokenizer": name, "threads": threads, "texts": len(texts),
                         "tokens": ours["tokens"],
                         "embedrt_tokens_per_second": ours["tokens_per_second_median"],
                         "hf_tokens_per_second": theirs["tokens_per_second_median"],
                         "ratio": ours["tokens_per_second_median"]
                         / theirs["tokens_per_second_median"],
                         "embedrt_ms_per_1000_tokens": 1000e3
                         / ours["tokens_per_second_median"]})
    import tokenizers
    report = {"cpu": cpu_name(), "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
              "hf_tokenizers_version": tokenizers.__version__, "repeats": args.repeats,
              "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"CPU: {report['cpu']} ({report['cores']} cores); corpus: {len(texts)} texts; "
          f"median of {args.repeats} runs; HF tokenizers {tokenizers.__version__}\n")
    print("| tokenizer | threads | tokens | embedrt tokens/s | HF tokens/s | ratio | embedrt ms per 1,000 tokens |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['tokenizer']} | {r['threads']} | {r['tokens']:,} | "
              f"{r['embedrt_tokens_per_second']:,.0f} | {r['hf_tokens_per_second']:,.0f} | "
              f"{r['ratio']:.2f}× | {r['embedrt_ms_per_1000_tokens']:.3f} |")


if __name__ == "__main__":
    main()
