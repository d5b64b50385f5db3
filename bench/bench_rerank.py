#!/usr/bin/env python3
"""Cross-encoder reranking throughput: embedrt.Reranker.predict (fp32, bf16, int8) against
sentence-transformers' CrossEncoder.predict on a MiniLM-L6 cross-encoder shape, both in-process.

    .venv/bin/python bench/bench_rerank.py --build build --repeats 5 --out bench/results/rerank.json

The model is made here: BertForSequenceClassification with cross-encoder/ms-marco-MiniLM-L-6-v2's
shape (6 layers, hidden 384, 12 heads, intermediate 1536, vocabulary 30522, one label), random
weights (the shape, not the weights, sets the speed), saved as a sentence-transformers CrossEncoder
folder with all-MiniLM-L6-v2's BERT WordPiece tokenizer (test-data/models/all-MiniLM-L6-v2, made by
scripts/make_test_data.sh). Workload: each query (an STS-B dev sentence) with its own candidate
passages (60-120 words of consecutive STS-B sentences), as a reranker sees a retriever's results.

embedrt runs in this process through its Python package (<build>/python, built with
-DEMBEDRT_BUILD_PYTHON=ON): one Reranker per precision, loaded before timing, one predict() call per
query with the engine's default batching, `threads` engine threads. CrossEncoder.predict (torch
fp32, `torch.set_num_threads`) runs at its default batch size (32) and at 64. Model loads are not
timed for either. Every repeat runs every configuration once, in an order rotated per repeat;
figures are medians.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_tokenizer import cpu_name  # noqa: E402

SHAPE = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
             intermediate_size=1536, max_position_embeddings=512, num_labels=1)


def make_model(out: Path, tokenizer_json: Path) -> None:
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast
    torch.manual_seed(0)
    tokenizer = BertTokenizerFast(
        tokenizer_file=str(tokenizer_json), unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]",
        cls_token="[CLS]", mask_token="[MASK]", model_max_length=512)
    model = BertForSequenceClassification(BertConfig(**SHAPE)).eval()
    with tempfile.TemporaryDirectory() as hf_dir:
        model.save_pretrained(hf_dir, safe_serialization=True)
        tokenizer.save_pretrained(hf_dir)
        CrossEncoder(hf_dir, device="cpu").save(str(out))


def workload(sts: Path, queries: int, passages: int, seed: int):
    sentences = []
    for line in sts.read_text(encoding="utf-8").splitlines():
        cols = line.split("\t")
        for text in cols[5:7]:
            if text and (not sentences or sentences[-1] != text):
                sentences.append(text)
    rng = np.random.default_rng(seed)
    out = []
    for q in range(queries):
        query = sentences[int(rng.integers(len(sentences)))]
        docs = []
        for _ in range(passages):
            target, start = int(rng.integers(60, 121)), int(rng.integers(len(sentences)))
            words = []
            while len(words) < target:
                words += sentences[start % len(sentences)].split()
                start += 1
            docs.append(" ".join(words[:target]))
        out.append((query, docs))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, default=ROOT / "build")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--queries", type=int, default=4)
    parser.add_argument("--passages", type=int, default=100, help="candidates per query")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"])
    parser.add_argument("--sts", type=Path,
                        default=ROOT.parent / "shared" / "data" / "stsbenchmark" / "sts-dev.csv")
    parser.add_argument("--tokenizer", type=Path,
                        default=ROOT / "test-data" / "models" / "all-MiniLM-L6-v2" / "tokenizer.json")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    for path in (args.sts, args.tokenizer):
        if not path.exists():
            raise SystemExit(f"bench_rerank: missing {path} (scripts/make_test_data.sh makes the "
                             "tokenizer; --sts names the STS-B dev file)")
    sys.path.insert(0, str(args.build / "python"))
    try:
        import embedrt
    except ImportError as e:
        raise SystemExit(f"bench_rerank: cannot import embedrt from {args.build / 'python'} ({e}); "
                         "configure with -DEMBEDRT_BUILD_PYTHON=ON and build target _embedrt")

    import torch
    from sentence_transformers import CrossEncoder
    torch.set_num_threads(args.threads)
    tmp = tempfile.TemporaryDirectory()
    model_dir = Path(tmp.name) / "minilm-l6-cross-encoder-random"
    make_model(model_dir, args.tokenizer)
    work = workload(args.sts, args.queries, args.passages, seed=1)
    pairs_total = sum(len(docs) for _, docs in work)
    rerankers = {p: embedrt.Reranker(str(model_dir), precision=p, threads=args.threads)
                 for p in args.precisions}

    cross_encoder = CrossEncoder(str(model_dir), device="cpu")
    tokens = [len(cross_encoder.tokenizer(q, d)["input_ids"]) for q, docs in work for d in docs]

    def run_embedrt(precision):
        reranker = rerankers[precision]
        started = time.perf_counter()
        for q, docs in work:
            reranker.predict([(q, d) for d in docs])
        return time.perf_counter() - started

    def run_cross_encoder(batch_size):
        started = time.perf_counter()
        with torch.inference_mode():
            for q, docs in work:
                cross_encoder.predict([(q, d) for d in docs], batch_size=batch_size,
                                      show_progress_bar=False)
        return time.perf_counter() - started

    configs = [(f"embedrt {p}", lambda p=p: run_embedrt(p)) for p in args.precisions]
    configs += [("CrossEncoder batch 32 (default)", lambda: run_cross_encoder(32)),
                ("CrossEncoder batch 64", lambda: run_cross_encoder(64))]
    # Warm-up: page the models in, let torch and oneDNN pick their kernels.
    run_cross_encoder(32)
    for p in args.precisions:
        run_embedrt(p)
    seconds = {name: [] for name, _ in configs}
    for r in range(args.repeats):
        for name, run in configs[r % len(configs):] + configs[:r % len(configs)]:
            seconds[name].append(run())
            print(f"bench_rerank: repeat {r + 1} {name}: {seconds[name][-1]:.2f} s", file=sys.stderr)

    # The same scores: embedrt fp32 against CrossEncoder on the first query.
    q, docs = work[0]
    got = embedrt.Reranker(str(model_dir), precision="fp32", threads=args.threads).predict(
        [(q, d) for d in docs])
    expected = cross_encoder.predict([(q, d) for d in docs], show_progress_bar=False)
    max_diff = float(np.abs(got - expected).max())

    rates = {name: pairs_total / statistics.median(s) for name, s in seconds.items()}
    base32, base64 = rates["CrossEncoder batch 32 (default)"], rates["CrossEncoder batch 64"]
    print(f"CPU: {cpu_name()} ({os.cpu_count()} cores), threads {args.threads}")
    print(f"{args.queries} queries x {args.passages} passages = {pairs_total} pairs, "
          f"tokens per pair median {int(np.median(tokens))} (min {min(tokens)}, max {max(tokens)}); "
          f"{args.repeats} repeats; embedrt fp32 vs CrossEncoder max |score diff| {max_diff:.2e}")
    print("| engine | pairs/s | vs CrossEncoder batch 32 | vs CrossEncoder batch 64 |")
    print("|---|---|---|---|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.1f} | {rate / base32:.2f}x | {rate / base64:.2f}x |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "cpu": cpu_name(), "cores": os.cpu_count(), "threads": args.threads,
            "queries": args.queries, "passages": args.passages, "pairs": pairs_total,
            "tokens_per_pair_median": int(np.median(tokens)), "repeats": args.repeats,
            "max_score_diff_fp32": max_diff, "pairs_per_s": rates, "seconds": seconds}, indent=2))


if __name__ == "__main__":
    main()
