#!/usr/bin/env python3
"""Decoder embedders (Qwen3-Embedding's shape) against their peers: sentence-transformers (torch
fp32 and bf16) and llama.cpp through llama-cpp-python (F16 and Q8_0 GGUFs of the same weights),
plus embedrt in each precision once it loads the family. Same texts (~128 tokens each), same
thread count, every peer in its own child process (peak RSS is that peer's alone), in rounds that
run every peer in turn (the host's drift moves all alike); medians over rounds.

    bench/setup_peers.sh                                   # .venv-peers, llama-cpp-python included
    .venv-peers/bin/python bench/make_decoder_model.py --out ~/.cache/embedrt/bench/qwen3-0.6b-random \
        --gguf --llama-cpp-sdist llama_cpp_python-0.3.36.tar.gz
    cmake --build build --target embedrt_encode_throughput
    .venv-peers/bin/python bench/bench_decoder.py --model ~/.cache/embedrt/bench/qwen3-0.6b-random \
        --build build --out bench/results/decoder-qwen3-0.6b.json

Fairness check: before timing, every peer embeds the same few texts, and its vectors are compared
with sentence-transformers fp32's (cosine), so a peer that pools or tokenizes differently shows.
llama.cpp runs with pooling LAST and normalizes, as the folder's Pooling(lasttoken) + Normalize.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_peers import child_env, cpu_flags, cpu_name, joined_texts, last_json, run_child, tail  # noqa: E402

PEERS = ["st-fp32", "st-bf16", "llama-f16", "llama-q8_0", "embedrt-fp32", "embedrt-bf16", "embedrt-int8"]


# ---- Children (run as `bench_decoder.py --child SPEC`) ---------------------------------------


def child_main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    texts, check = spec["texts"], spec["check_texts"]
    threads = spec["threads"]
    start = time.perf_counter()
    if spec["peer"].startswith("st-"):
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        dtype = torch.float32 if spec["peer"] == "st-fp32" else torch.bfloat16
        # transformers 5 loads a checkpoint in its stored dtype unless told; fp32 must be asked.
        model = SentenceTransformer(spec["model"], device="cpu", model_kwargs={"dtype": dtype})
        load = time.perf_counter() - start

        def encode(batch):
            return model.encode(batch, batch_size=spec["batch_size"], convert_to_numpy=True).tolist()
    else:
        import llama_cpp

        gguf = Path(spec["model"]) / "gguf" / f"model-{spec['peer'].split('-', 1)[1]}.gguf"
        if spec["peer"] == "llama-q8_0":
            # llama.cpp's extra CPU buffer types (AMX and repacked Q8_0 weights) crash in decode
            # on the AMX Xeon this was set up on (llama-cpp-python 0.3.36, SIGSEGV); Q8_0 runs
            # on the plain CPU buffers instead.
            default_params = llama_cpp.llama_model_default_params

            def model_params():
                params = default_params()
                params.use_extra_bufts = False
                return params

            llama_cpp.llama_cpp.llama_model_default_params = model_params
            llama_cpp.llama.llama_cpp.llama_model_default_params = model_params
        model = llama_cpp.Llama(
            model_path=str(gguf), embedding=True, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_LAST,
            n_ctx=spec["n_ctx"], n_batch=spec["n_ubatch"], n_ubatch=spec["n_ubatch"], n_threads=threads,
            n_threads_batch=threads, verbose=False)
        load = time.perf_counter() - start

        def encode(batch):
            return model.embed(batch, normalize=True)
    check_vectors = encode(check)
    encode(texts[:2])  # warm-up
    start = time.perf_counter()
    encode(texts)
    seconds = time.perf_counter() - start
    print(json.dumps({"load_seconds": load, "seconds": seconds, "check_vectors": check_vectors}))


# ---- Parent -----------------------------------------------------------------------------------


def cosines(a, b):
    import numpy as np

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    c = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(c.mean()), float(c.min())


def embedrt_tool(build: Path):
    for path in (build / "bench" / "embedrt_encode_throughput", build / "embedrt_encode_throughput"):
        if path.exists():
            return path
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--build", type=Path, default=ROOT / "build")
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--texts", type=int, default=32, help="timed texts per run")
    parser.add_argument("--tokens", type=int, default=128, help="tokens per text (EOS included)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    # llama.cpp computes attention over a whole micro-batch (every sequence in it masked against
    # the others), so a 2048-token micro-batch pays for 2048² scores; 512 was its fastest setting
    # here (Q8_0: 0.71 texts/s against 0.51 at 2048 and 0.47 at 256, Intel Xeon, 2 threads).
    parser.add_argument("--llama-ubatch", type=int, default=512,
                        help="llama.cpp tokens per decode call (n_batch = n_ubatch)")
    parser.add_argument("--check", type=int, default=6, help="texts of the cosine check")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        child_main(args.child)
        return
    if not args.model or not (args.model / "config.json").exists():
        raise SystemExit("bench_decoder: --model must name the folder bench/make_decoder_model.py made")

    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(args.model / "tokenizer.json"))
    sts = ROOT.parent / "shared" / "data" / "stsbenchmark" / "sts-dev.csv"
    if not sts.exists():
        sts = ROOT / "shared" / "data" / "stsbenchmark" / "sts-dev.csv"
    sentences = []
    for line in sts.read_text(encoding="utf-8").splitlines():
        sentences += line.split("\t")[5:7]
    texts = joined_texts(sentences, tokenizer, args.tokens, args.texts)
    check = joined_texts(sentences, tokenizer, args.tokens // 4, args.check, start=5000)
    token_count = sum(len(tokenizer.encode(t).ids) for t in texts)
    n_ctx = max(2048, args.batch_size * (args.tokens + 16))

    work = Path(tempfile.mkdtemp(prefix="bench_decoder_"))
    spec = {"model": str(args.model), "texts": texts, "check_texts": check, "threads": args.threads,
            "batch_size": args.batch_size, "n_ctx": n_ctx, "n_ubatch": args.llama_ubatch}
    texts_file = work / "texts.jsonl"
    texts_file.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    check_file = work / "check.jsonl"
    check_file.write_text("".join(json.dumps({"text": t}) + "\n" for t in check))
    env = child_env(args.threads)
    peers = [p for p in args.peers.split(",") if p]
    skipped = {}

    tool = embedrt_tool(args.build)
    for peer in [p for p in peers if p.startswith("embedrt-")]:
        if tool is None:
            skipped[peer] = f"no embedrt_encode_throughput under {args.build}"
            continue
        out, status, _ = run_child([str(tool), str(args.model), str(check_file), str(args.threads), "8", "1",
                                    "--precision", peer.split("-")[1], "--info"], env, work / "info.log", 600)
        if status != 0:
            skipped[peer] = "embedrt cannot load this model yet: " + tail(work / "info.log", 1)
    for peer in [p for p in peers if p.startswith("llama-")]:
        gguf = args.model / "gguf" / f"model-{peer.split('-', 1)[1]}.gguf"
        if not gguf.exists():
            skipped[peer] = f"no {gguf} (bench/make_decoder_model.py --gguf)"
    for peer, why in skipped.items():
        print(f"bench_decoder: {peer} skipped: {why}", flush=True)
    peers = [p for p in peers if p not in skipped]

    runs = {p: [] for p in peers}
    for r in range(args.rounds):
        for peer in peers:
            log = work / f"{peer}-{r}.log"
            if peer.startswith("embedrt-"):
                emb = work / f"{peer}.f32"
                cmd = [str(tool), str(args.model), str(texts_file), str(args.threads), str(args.batch_size), "1",
                       "--precision", peer.split("-")[1], "--no-batch-latency", "--warmup", "2"]
                out, status, rss = run_child(cmd, env, log, args.timeout)
                if status == 0:
                    result = last_json(out)
                    rss = result.get("peak_rss_mb", rss)
                    check_out, _, _ = run_child(
                        [str(tool), str(args.model), str(check_file), str(args.threads), "8", "1", "--precision",
                         peer.split("-")[1], "--no-batch-latency", "--embeddings", str(emb)], env, log, 600)
                    import numpy as np
                    vectors = np.fromfile(emb, dtype=np.float32).reshape(len(check), -1).tolist()
                    result = {"seconds": len(texts) / result["texts_per_second_median"], "check_vectors": vectors,
                              "load_seconds": result["load_seconds"]}
            else:
                spec_file = work / f"{peer}.json"
                spec_file.write_text(json.dumps({**spec, "peer": peer}))
                out, status, rss = run_child([sys.executable, __file__, "--child", str(spec_file)], env, log,
                                             args.timeout)
                result = last_json(out) if status == 0 else None
            if status != 0:
                print(f"bench_decoder: {peer} round {r} failed ({status}): {tail(log)}", flush=True)
                continue
            result["peak_rss_mb"] = rss
            runs[peer].append(result)
            print(f"bench_decoder: round {r} {peer}: {len(texts) / result['seconds']:.2f} texts/s, "
                  f"{token_count / result['seconds']:.0f} tokens/s, peak RSS {rss:.0f} MB", flush=True)

    reference = runs.get("st-fp32", [{}])[0].get("check_vectors") if runs.get("st-fp32") else None
    rows = []
    for peer in peers:
        if not runs[peer]:
            continue
        seconds = statistics.median(r["seconds"] for r in runs[peer])
        row = {"peer": peer, "texts_per_second": len(texts) / seconds, "tokens_per_second": token_count / seconds,
               "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs[peer]),
               "load_seconds": statistics.median(r["load_seconds"] for r in runs[peer]),
               "rounds": len(runs[peer]),
               "texts_per_second_runs": [len(texts) / r["seconds"] for r in runs[peer]]}
        if reference is not None:
            row["cosine_mean"], row["cosine_min"] = cosines(runs[peer][0]["check_vectors"], reference)
        rows.append(row)

    report = {"cpu": cpu_name(), "cpu_flags": cpu_flags(), "threads": args.threads, "texts": len(texts),
              "tokens": token_count, "tokens_per_text": token_count / len(texts), "batch_size": args.batch_size,
              "rounds": args.rounds, "model": str(args.model), "skipped": skipped, "rows": rows,
              "command": " ".join([Path(sys.executable).name, "bench/bench_decoder.py"] + sys.argv[1:]),
              "load_average": os.getloadavg()}
    print(f"\nCPU: {report['cpu']}, {args.threads} threads; {len(texts)} texts, "
          f"{report['tokens_per_text']:.1f} tokens each (EOS included), batch {args.batch_size}, "
          f"median of {args.rounds} rounds; load average at the end {report['load_average'][0]:.1f}")
    print("| peer | texts/s | tokens/s | peak RSS MB | load s | cosine vs ST fp32 (mean / min) |")
    print("|---|---:|---:|---:|---:|---|")
    for row in rows:
        cos = f"{row['cosine_mean']:.6f} / {row['cosine_min']:.6f}" if "cosine_mean" in row else "—"
        print(f"| {row['peer']} | {row['texts_per_second']:.2f} | {row['tokens_per_second']:.0f} | "
              f"{row['peak_rss_mb']:.0f} | {row['load_seconds']:.1f} | {cos} |")
    for peer, why in skipped.items():
        print(f"| {peer} | — | — | — | — | skipped: {why} |")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
