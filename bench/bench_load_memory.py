#!/usr/bin/env python3
"""Peak resident memory of embedrt while loading a model and while encoding, in each precision,
for any model folder; optionally checks limits. Each precision runs in its own process (the
tool reports VmHWM after load and after encoding, and the packed weight bytes).

    cmake --build build --target embedrt_encode_throughput
    .venv/bin/python bench/random_model.py --config bench/configs/bert-0.6b-shape.json \
        --dtype bfloat16 --out ~/.cache/embedrt/bench/bert-0.6b-shape-bf16
    .venv/bin/python bench/bench_load_memory.py --model ~/.cache/embedrt/bench/bert-0.6b-shape-bf16 \
        --limit bf16=2048 --limit int8=1229

Texts: --texts texts of about --tokens tokens (STS-B dev sentences joined), encoded once after a
warm-up. Exit status 1 when a limit (MiB of peak RSS over load and encode) is exceeded.
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_peers import child_env, cpu_name, joined_texts, last_json, run_child, tail  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--build", type=Path, default=ROOT / "build")
    parser.add_argument("--precisions", default="fp32,bf16,int8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--texts", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--limit", action="append", default=[], metavar="PRECISION=MIB")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    tool = next((p for p in (args.build / "bench" / "embedrt_encode_throughput",
                             args.build / "embedrt_encode_throughput") if p.exists()), None)
    if tool is None:
        raise SystemExit(f"bench_load_memory: no embedrt_encode_throughput under {args.build}")
    limits = {k: float(v) for k, v in (item.split("=", 1) for item in args.limit)}

    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(args.model / "tokenizer.json"))
    sts = next(p for p in (ROOT.parent / "shared" / "data" / "stsbenchmark" / "sts-dev.csv",
                           ROOT / "shared" / "data" / "stsbenchmark" / "sts-dev.csv") if p.exists())
    sentences = []
    for line in sts.read_text(encoding="utf-8").splitlines():
        sentences += line.split("\t")[5:7]
    texts = joined_texts(sentences, tokenizer, args.tokens, args.texts)
    work = Path(tempfile.mkdtemp(prefix="bench_load_memory_"))
    texts_file = work / "texts.jsonl"
    texts_file.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    file_mib = (args.model / "model.safetensors").stat().st_size / 2**20

    rows, failed = [], []
    for precision in args.precisions.split(","):
        log = work / f"{precision}.log"
        cmd = [str(tool), str(args.model), str(texts_file), str(args.threads), str(args.batch_size), "1",
               "--precision", precision, "--no-batch-latency", "--warmup", "2"]
        out, status, _ = run_child(cmd, child_env(args.threads), log, 3600)
        if status != 0:
            raise SystemExit(f"bench_load_memory: {precision} failed ({status}): {tail(log)}")
        r = last_json(out)
        row = {"precision": precision, "effective": r["precision_effective"], "weight_dtype": r.get("weight_dtype"),
               "weight_mib": r["weight_bytes"] / 2**20, "load_peak_mib": r["load_peak_rss_mb"],
               "rss_after_load_mib": r["rss_after_load_mb"], "peak_mib": r["peak_rss_mb"],
               "load_seconds": r["load_seconds"], "texts_per_second": r["texts_per_second_median"]}
        limit = limits.get(precision)
        row["limit_mib"] = limit
        row["within_limit"] = None if limit is None else row["peak_mib"] < limit
        if limit is not None and not row["within_limit"]:
            failed.append(precision)
        rows.append(row)

    print(f"{args.model.name}: model.safetensors {file_mib:.0f} MiB; CPU {cpu_name()}, {args.threads} threads, "
          f"{len(texts)} texts of ~{args.tokens} tokens, batch {args.batch_size}")
    print("| precision | effective | weights MiB | load peak MiB | RSS after load MiB | peak (load + encode) MiB | limit |")
    print("|---|---|---:|---:|---:|---:|---|")
    for r in rows:
        limit = "—" if r["limit_mib"] is None else f"< {r['limit_mib']:.0f}: {'ok' if r['within_limit'] else 'EXCEEDED'}"
        print(f"| {r['precision']} | {r['effective']} | {r['weight_mib']:.0f} | {r['load_peak_mib']:.0f} | "
              f"{r['rss_after_load_mib']:.0f} | {r['peak_mib']:.0f} | {limit} |")
    if args.out:
        args.out.write_text(json.dumps({"model": str(args.model), "cpu": cpu_name(), "threads": args.threads,
                                        "rows": rows}, indent=1) + "\n")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
