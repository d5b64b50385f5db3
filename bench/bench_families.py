#!/usr/bin/env python3
"""Every encoder family at a published model's shape: embedrt (fp32, bf16, int8) against
sentence-transformers (torch fp32 and bf16) on the same texts and threads, in one run, with the
fraction of the measured GEMM peak and each mode's cosine against sentence-transformers fp32.

    .venv/bin/python bench/bench_families.py --build build --out bench/results/families.json
    .venv/bin/python bench/bench_families.py --families mpnet,modernbert --workloads medium

Models: all-MiniLM-L6-v2 and all-mpnet-base-v2 are the real ones (scripts/fetch_model.py); the
other families are published configs with seeded random weights and MiniLM's tokenizer, made
once under BUILD/bench-models/ by bench_encode.shape_model(). Workloads: STS-B dev sentences
taken evenly over the set, so that every genre is in (short; --short-texts, 600 by default),
~128-token texts (medium) and, for families with the positions, texts truncated at --long-tokens
(long: 2,048 by default; both engines told that maximum length). Each engine runs
at its own default batching: sentence-transformers encode(batch_size=32), embedrt its optimize
mode's (balanced: 128 texts, 8,192 tokens, packed without padding); --st-batch-size changes the
former. Every configuration
runs in its own process; rounds interleave the configurations and figures are medians.

Model FLOPs: 2 x (every matrix of the encoder layers, embeddings excluded, from the checkpoint)
per token, plus 4 * h per attended (query, key) pair in each layer (ModernBERT's local layers
count only the pairs inside their window). % of GEMM peak = model FLOP/s over the rate
bench/tools/gemm_peak.cpp measures for the mode's precision on this machine.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_encode import SHAPES, medium_texts, shape_model, spread, sts_sentences  # noqa: E402
from bench_tokenizer import cpu_name  # noqa: E402

MODELS = Path.home() / ".cache/embedrt/models"
MODERNBERT = {k: v for k, v in json.loads((ROOT / "bench/configs/modernbert-base.json").read_text())
              .items() if k not in ("architectures", "model_type")}
# Published configs as transformers 5 reads them (intfloat/multilingual-e5-base,
# sentence-transformers/msmarco-distilbert-base-v4, answerdotai/ModernBERT-base).
SHAPES.update({
    "multilingual-e5-base": ("XLMRobertaConfig", "XLMRobertaModel", "mean", dict(
        vocab_size=250002, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
        intermediate_size=3072, hidden_act="gelu", max_position_embeddings=514,
        type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0,
        eos_token_id=2)),
    "msmarco-distilbert-base-v4": ("DistilBertConfig", "DistilBertModel", "mean", dict(
        vocab_size=30522, dim=768, n_layers=6, n_heads=12, hidden_dim=3072,
        max_position_embeddings=512, activation="gelu")),
    "modernbert-base": ("ModernBertConfig", "ModernBertModel", "mean", MODERNBERT),
})
FAMILIES = {  # family: (model, real model folder or None for a SHAPES entry)
    "bert": ("all-MiniLM-L6-v2", MODELS / "all-MiniLM-L6-v2"),
    "mpnet": ("all-mpnet-base-v2", MODELS / "all-mpnet-base-v2"),
    "xlm-roberta": ("multilingual-e5-base", None),
    "distilbert": ("msmarco-distilbert-base-v4", None),
    "modernbert": ("modernbert-base", None),
    "nomic-bert": ("nomic-embed-text-v1.5", None),
    "gte": ("gte-base-en-v1.5", None),
}
EMBEDRT_MODES = ("fp32", "bf16", "int8")
ST_MODES = ("st-fp32", "st-bf16")

ST_CHILD = r"""
import json, resource, statistics, sys, time
import numpy as np, torch
args = json.loads(sys.stdin.read())
torch.set_num_threads(args["threads"])
from sentence_transformers import SentenceTransformer
kwargs = {"model_kwargs": {"dtype": torch.bfloat16}} if args["bf16"] else {}
model = SentenceTransformer(args["model"], device="cpu", **kwargs)
if args.get("max_length"):
    model.max_seq_length = args["max_length"]
texts, bs = args["texts"], args["batch_size"]
with torch.inference_mode():
    model.encode(texts[:bs], batch_size=bs)
    rates = []
    for _ in range(args["repeats"]):
        start = time.perf_counter()
        vectors = model.encode(texts, batch_size=bs, convert_to_numpy=False,
                               convert_to_tensor=True)
        rates.append(len(texts) / (time.perf_counter() - start))
np.save(args["embeddings"], vectors.float().numpy())
print(json.dumps({"texts_per_second_runs": rates,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_st(model, texts, threads, batch_size, repeats, bf16, embeddings, max_length=None):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    out = subprocess.run([sys.executable, "-c", ST_CHILD], input=json.dumps(
        {"model": model, "texts": texts, "threads": threads, "batch_size": batch_size,
         "repeats": repeats, "bf16": bf16, "embeddings": str(embeddings),
         "max_length": max_length}),
        capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"sentence-transformers failed on {model}:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_embedrt(build, model, jsonl, threads, repeats, precision, embeddings, max_length=None):
    extra = ["--max-length", str(max_length)] if max_length else []
    out = subprocess.run([str(build / "bench" / "embedrt_encode_throughput"), model, str(jsonl),
                          str(threads), "0", str(repeats), "--precision", precision,
                          "--no-batch-latency", "--warmup", "32", "--embeddings",
                          str(embeddings)] + extra, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"embedrt failed on {model} ({precision}):\n{out.stderr[-2000:]}")
    return json.loads(out.stdout)


def long_texts(sentences, tokenizer, target_tokens, count):
    """`count` texts of `target_tokens` tokens or a little more (truncated to it), joined from
    consecutive sentences, each starting where the previous one stopped."""
    texts, i = [], 0
    for _ in range(count):
        words = []
        while len(tokenizer.encode(" ".join(words)).ids) < target_tokens:
            for _ in range(16):
                words.append(sentences[i % len(sentences)])
                i += 1
        texts.append(" ".join(words))
    return texts


def linear_flops_per_token(model_dir: Path) -> float:
    """2 x the matrices of the encoder layers (embeddings, pooler and MPNet's bias table out)."""
    from safetensors import safe_open
    total = 0
    for path in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(path), "np") as f:
            for name in f.keys():
                shape = f.get_slice(name).get_shape()
                if len(shape) == 2 and not any(s in name for s in (
                        "embeddings", "pooler", "relative_attention_bias")):
                    total += 2 * shape[0] * shape[1]
    return float(total)


def attention_flops(config: dict, lengths) -> float:
    """4 * h per attended (query, key) pair and layer, windows counted for ModernBERT."""
    h = config.get("hidden_size") or config.get("dim") or config.get("n_embd")
    layers = (config.get("num_hidden_layers") or config.get("n_layers")
              or config.get("n_layer"))
    window = config.get("local_attention") if config.get("model_type") == "modernbert" else None
    every = config.get("global_attn_every_n_layers", 1)
    total = 0
    for n in lengths:
        full = n * n
        if window:
            half = window // 2
            local = sum(min(n - 1, i + half) - max(0, i - half) + 1 for i in range(n))
            globals_ = (layers + every - 1) // every
            total += 4 * h * (globals_ * full + (layers - globals_) * local)
        else:
            total += 4 * h * layers * full
    return float(total)


def cosine(a: np.ndarray, b: np.ndarray):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    c = (a * b).sum(axis=1)
    return float(c.mean()), float(c.min())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--sts", default=str(ROOT.parent / "shared/data/stsbenchmark/sts-dev.csv"))
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--workloads", default="short,medium")
    parser.add_argument("--short-texts", type=int, default=600)
    parser.add_argument("--medium-texts", type=int, default=64)
    parser.add_argument("--long-texts", type=int, default=8)
    parser.add_argument("--long-tokens", type=int, default=2048,
                        help="tokens per text of the long workload (families that take them)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per round")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--st-batch-size", type=int, default=32)
    parser.add_argument("--out", default=str(ROOT / "bench/results/families.json"))
    args = parser.parse_args()
    build = Path(args.build)
    families = args.families.split(",")
    unknown = set(families) - set(FAMILIES)
    if unknown:
        parser.error(f"--families: unknown {', '.join(sorted(unknown))}")

    peak_run = subprocess.run([str(build / "bench" / "embedrt_gemm_peak"), "--threads",
                               str(args.threads), "--quick"], capture_output=True, text=True,
                              check=True)
    peak = json.loads(peak_run.stdout)["peak_gflops"]
    # fp32's peak is the faster of oneDNN's matmul and embedrt's own packed GEMM.
    peak["fp32"] = max(peak["fp32"], peak.get("embedrt fp32") or 0)

    from tokenizers import Tokenizer
    minilm = FAMILIES["bert"][1]
    sentences = sts_sentences(Path(args.sts))
    rows = []
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        for family in families:
            name, folder = FAMILIES[family]
            model = str(folder) if folder else shape_model(name, build, minilm)
            config = json.loads((Path(model) / "config.json").read_text())
            tokenizer = Tokenizer.from_file(str(Path(model) / "tokenizer.json"))
            tokenizer.no_padding()
            max_length = json.loads((Path(model) / "sentence_bert_config.json").read_text()).get(
                "max_seq_length", 512)
            tokenizer.enable_truncation(max_length)
            max_length_of_model = max_length
            linear = linear_flops_per_token(Path(model))
            texts_of = {"short": lambda: spread(sentences, args.short_texts),
                        "medium": lambda: medium_texts(sentences, tokenizer,
                                                       count=args.medium_texts),
                        "long": lambda: long_texts(sentences, tokenizer, args.long_tokens,
                                                   args.long_texts)}
            positions = (config.get("max_position_embeddings") or config.get("n_positions")
                         or 512)
            for workload in args.workloads.split(","):
                if workload not in texts_of:
                    parser.error(f"--workloads: unknown {workload}")
                if workload == "long" and positions < args.long_tokens:
                    print(f"{family} long: skipped ({positions} positions < {args.long_tokens})")
                    continue
                max_length = args.long_tokens if workload == "long" else None
                if max_length:
                    tokenizer.enable_truncation(max_length)
                texts = texts_of[workload]()
                lengths = [len(e.ids) for e in tokenizer.encode_batch(texts)]
                flops = linear * sum(lengths) + attention_flops(config, lengths)
                jsonl = work / f"{family}-{workload}.jsonl"
                jsonl.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n"
                                         for t in texts), encoding="utf-8")
                runs = {m: [] for m in EMBEDRT_MODES + ST_MODES}
                info = {}
                for _ in range(args.rounds):
                    for mode in EMBEDRT_MODES:
                        r = run_embedrt(build, model, jsonl, args.threads, args.repeats, mode,
                                        work / f"{mode}.f32", max_length)
                        runs[mode] += r["texts_per_second_runs"]
                        info[mode] = r
                    for mode in ST_MODES:
                        r = run_st(model, texts, args.threads, args.st_batch_size, args.repeats,
                                   mode == "st-bf16", work / f"{mode}.npy", max_length)
                        runs[mode] += r["texts_per_second_runs"]
                        info[mode] = r
                reference = np.load(work / "st-fp32.npy")
                modes = {}
                for mode in EMBEDRT_MODES + ST_MODES:
                    if mode in EMBEDRT_MODES:
                        vectors = np.fromfile(work / f"{mode}.f32", dtype=np.float32).reshape(
                            len(texts), -1)
                        precision = info[mode]["precision_effective"]
                    else:
                        vectors = np.load(work / f"{mode}.npy")
                        precision = "bf16" if mode == "st-bf16" else "fp32"
                    rate = statistics.median(runs[mode])
                    mean_cos, min_cos = cosine(vectors, reference)
                    modes[mode] = {
                        "texts_per_second": rate, "texts_per_second_runs": runs[mode],
                        "tokens_per_second": rate * sum(lengths) / len(texts),
                        "model_gflops": flops * rate / len(texts) * 1e-9,
                        "precision": precision,
                        "gemm_peak_fraction": flops * rate / len(texts) * 1e-9 / peak[precision],
                        "peak_rss_mb": info[mode]["peak_rss_mb"],
                        "cosine_mean": mean_cos, "cosine_min": min_cos}
                rows.append({"family": family, "model": name, "random_weights": folder is None,
                             "workload": workload, "texts": len(texts),
                             "tokens": sum(lengths), "gflop": flops * 1e-9, "modes": modes})
                print(f"{family} {workload}: " + ", ".join(
                    f"{m} {modes[m]['texts_per_second']:.2f}" for m in modes), flush=True)
                if max_length:
                    tokenizer.enable_truncation(max_length_of_model)

    import sentence_transformers
    import torch
    report = {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": args.threads,
              "date": time.strftime("%Y-%m-%d"), "rounds": args.rounds,
              "repeats": args.repeats, "st_batch_size": args.st_batch_size,
              "gemm_peak_gflops": peak,
              "versions": {"sentence_transformers": sentence_transformers.__version__,
                           "torch": torch.__version__}, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")

    print(f"\nCPU: {report['cpu']} ({report['cores']} cores), {args.threads} threads; medians of "
          f"{args.rounds} interleaved rounds x {args.repeats} runs; sentence-transformers "
          f"{sentence_transformers.__version__} (batch {args.st_batch_size}), torch "
          f"{torch.__version__}; GEMM peak fp32 {peak['fp32']:.0f}, bf16 {peak['bf16']:.0f}, "
          f"int8 {peak['int8']:.0f} GFLOP/s\n")
    print("| family (model) | workload | mode | texts/s | tokens/s | × s-t fp32 | × s-t bf16 | "
          "% of GEMM peak | peak RSS MB | cosine vs s-t fp32 mean / min |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        st32 = r["modes"]["st-fp32"]["texts_per_second"]
        st16 = r["modes"]["st-bf16"]["texts_per_second"]
        label = f"{r['family']} ({r['model']}{', random' if r['random_weights'] else ''})"
        for mode, m in r["modes"].items():
            print(f"| {label} | {r['workload']} ({r['texts']}) | {mode} | "
                  f"{m['texts_per_second']:,.1f} | {m['tokens_per_second']:,.0f} | "
                  f"{m['texts_per_second'] / st32:.2f}× | {m['texts_per_second'] / st16:.2f}× | "
                  f"{100 * m['gemm_peak_fraction']:.0f}% | {m['peak_rss_mb']:,.0f} | "
                  f"{m['cosine_mean']:.6f} / {m['cosine_min']:.6f} |")
            label = ""


if __name__ == "__main__":
    main()
