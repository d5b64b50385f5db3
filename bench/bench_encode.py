#!/usr/bin/env python3
"""Encoder throughput, embedrt vs sentence-transformers (torch fp32), same texts, same threads,
in one run. Workloads: STS-B dev sentences (short), ~128-token texts (medium, also timed as
batches of 8) and, with --workloads, ~1,024-token texts (long: where ModernBERT's sliding windows
matter). Prints a Markdown table and writes JSON.

    .venv/bin/python bench/bench_encode.py --build build --out bench/results/encode.json
    .venv/bin/python bench/bench_encode.py --model DIR --workloads medium,long --out OUT.json
    .venv/bin/python bench/bench_encode.py --build build --shape nomic-embed-text-v1.5 \
        --workloads medium --texts 64 --out bench/results/encode-nomic-embed-text-v1.5.json

--shape NAME benches a model of that family with a published model's config and random weights
(made once under BUILD/bench-models/, MiniLM's tokenizer). SHAPES holds one config per family.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_tokenizer import cpu_name  # noqa: E402


def sts_sentences(path: Path):
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cols = line.split("\t")
        if len(cols) >= 7:
            out += [cols[5], cols[6]]
    return out


def spread(sentences, count):
    """`count` sentences taken evenly over the list (every len // count-th one), all of them when
    there are no more. STS-B dev lists its genres in blocks: its first 600 sentences are all image
    captions (7 words on average against 11 for the set), its news and forum sentences come later."""
    if count >= len(sentences):
        return list(sentences)
    step = len(sentences) // count
    return sentences[::step][:count]


def medium_texts(sentences, tokenizer, target_tokens=128, count=256):
    """Texts of about `target_tokens` tokens, made by joining consecutive sentences."""
    texts, current = [], []
    i = 0
    while len(texts) < count:
        current.append(sentences[i % len(sentences)])
        i += 1
        if len(tokenizer.encode(" ".join(current)).ids) >= target_tokens:
            texts.append(" ".join(current[:-1]) if len(current) > 1 else current[0])
            current = []
    return texts


# Published configs (nomic-ai/nomic-embed-text-v1.5, Alibaba-NLP/gte-base-en-v1.5) as transformers
# 5 reads them, with each model's pooling.
SHAPES = {
    "nomic-embed-text-v1.5": ("NomicBertConfig", "NomicBertModel", "mean", dict(
        vocab_size=30528, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
        intermediate_size=3072, hidden_act="silu", max_position_embeddings=8192,
        type_vocab_size=2, layer_norm_eps=1e-12,
        rope_parameters={"rope_type": "default", "rope_theta": 1000.0})),
    "gte-base-en-v1.5": ("GteConfig", "GteModel", "cls", dict(
        vocab_size=30528, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
        intermediate_size=3072, hidden_act="gelu", max_position_embeddings=8192,
        type_vocab_size=0, layer_norm_eps=1e-12, hidden_dropout_prob=0.0,
        rope_parameters={"rope_type": "default", "rope_theta": 500000.0})),
}


def shape_model(name: str, build: Path, tokenizer_dir: Path) -> str:
    """A sentence-transformers folder of SHAPES[name] with seeded random weights (made once)."""
    folder = build / "bench-models" / name
    if (folder / "modules.json").exists():
        return str(folder)
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules.normalize import Normalize
    from sentence_transformers.base.modules.transformer import Transformer
    from sentence_transformers.sentence_transformer.modules.pooling import Pooling
    config_class, model_class, pooling, fields = SHAPES[name]
    torch.manual_seed(0)
    model = getattr(transformers, model_class)(getattr(transformers, config_class)(**fields))
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_dir / "tokenizer.json"), unk_token="[UNK]", sep_token="[SEP]",
        pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]", model_max_length=8192)
    with tempfile.TemporaryDirectory() as hf_dir:
        model.eval().save_pretrained(hf_dir)
        tokenizer.save_pretrained(hf_dir)
        transformer = Transformer(hf_dir, max_seq_length=512)
        modules = [transformer, Pooling(model.config.hidden_size, pooling), Normalize()]
        SentenceTransformer(modules=modules, device="cpu").save(str(folder))
    return str(folder)


def run_embedrt(build: Path, model: str, texts, threads: int, batch_size: int, repeats: int,
                deterministic: bool = True):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    out = subprocess.run([str(build / "bench" / "embedrt_encode_throughput"), model, f.name,
                          str(threads), str(batch_size), str(repeats)]
                         + ([] if deterministic else ["--no-deterministic"]),
                         capture_output=True, text=True, check=True)
    os.unlink(f.name)
    return json.loads(out.stdout)


ST_CHILD = r"""
import json, resource, statistics, sys, time
import torch
args = json.loads(sys.stdin.read())
torch.set_num_threads(args["threads"])
from sentence_transformers import SentenceTransformer
start = time.perf_counter()
model = SentenceTransformer(args["model"], device="cpu")
load = time.perf_counter() - start
texts, bs = args["texts"], args["batch_size"]
with torch.inference_mode():
    model.encode(texts, batch_size=bs)
    rates = []
    for _ in range(args["repeats"]):
        start = time.perf_counter()
        model.encode(texts, batch_size=bs)
        rates.append(len(texts) / (time.perf_counter() - start))
    batch_ms = []
    for i in range(0, min(len(texts) - bs + 1, 200 * bs), bs):
        start = time.perf_counter()
        model.encode(texts[i:i + bs], batch_size=bs)
        batch_ms.append((time.perf_counter() - start) * 1e3)
batch_ms.sort()
# Fewer texts than one batch: no batch latency (null), not a figure from a partial batch.
print(json.dumps({"load_seconds": load, "texts_per_second_median": statistics.median(rates),
                  "texts_per_second_runs": rates,
                  "batch_ms_p50": batch_ms[len(batch_ms) // 2] if batch_ms else None,
                  "batch_ms_p99": batch_ms[min(len(batch_ms) - 1, int(0.99 * len(batch_ms)))]
                  if batch_ms else None,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_sentence_transformers(model: str, texts, threads: int, batch_size: int, repeats: int):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    out = subprocess.run([sys.executable, "-c", ST_CHILD], input=json.dumps(
        {"model": model, "texts": texts, "threads": threads, "batch_size": batch_size,
         "repeats": repeats}), capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--model", default=str(Path.home() / ".cache/embedrt/models/all-MiniLM-L6-v2"))
    parser.add_argument("--sts", default=str(ROOT.parent / "shared/data/stsbenchmark/sts-dev.csv"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "encode.json"))
    parser.add_argument("--workloads", default="short,medium,medium8",
                        help="comma-separated: short, medium, medium8, long")
    parser.add_argument("--shape", choices=sorted(SHAPES),
                        help="bench a random-weight model of this published config instead of --model")
    parser.add_argument("--max-texts", "--texts", type=int, default=0,
                        help="at most this many texts per workload (0: all), for large models")
    args = parser.parse_args()
    if args.shape:  # the tokenizer of --model (MiniLM's: BERT's uncased WordPiece, as both use)
        args.model = shape_model(args.shape, Path(args.build), Path(args.model))

    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(str(Path(args.model) / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    short = sts_sentences(Path(args.sts))
    chosen = args.workloads.split(",")
    medium = medium_texts(short, tokenizer) if {"medium", "medium8"} & set(chosen) else []
    available = {"short": ("short (STS-B dev sentences)", lambda: short, 32),
                 "medium": ("medium (~128 tokens)", lambda: medium, 32),
                 "medium8": ("medium, batches of 8", lambda: medium, 8),
                 "long": ("long (~1,024 tokens)",
                          lambda: medium_texts(short, tokenizer, target_tokens=1024, count=32), 8)}
    unknown = set(chosen) - set(available)
    if unknown:
        parser.error(f"--workloads: unknown {', '.join(sorted(unknown))} (expected {', '.join(available)})")
    workloads = [(available[k][0], available[k][1]()[:args.max_texts or None], available[k][2])
                 for k in chosen]
    rows = []
    for name, texts, batch_size in workloads:
        ours = run_embedrt(Path(args.build), args.model, texts, args.threads, batch_size,
                           args.repeats)
        fast = run_embedrt(Path(args.build), args.model, texts, args.threads, batch_size,
                           args.repeats, deterministic=False)
        theirs = run_sentence_transformers(args.model, texts, args.threads, batch_size,
                                           args.repeats)
        rows.append({"workload": name, "texts": len(texts), "tokens": ours["tokens"],
                     "batch_size": batch_size, "embedrt": ours,
                     "embedrt_nondeterministic": fast, "sentence_transformers": theirs,
                     "ratio": ours["texts_per_second_median"] / theirs["texts_per_second_median"]})
    import sentence_transformers
    import torch
    report = {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": args.threads,
              "model": args.shape or Path(args.model).name,
              "date": time.strftime("%Y-%m-%d"), "repeats": args.repeats,
              "versions": {"sentence_transformers": sentence_transformers.__version__,
                           "torch": torch.__version__}, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"Model: {report['model']}"
          f"{' (published config, random weights)' if args.shape else ''}. "
          f"CPU: {report['cpu']} ({report['cores']} cores), {args.threads} threads, fp32; "
          f"median of {args.repeats} runs; sentence-transformers "
          f"{sentence_transformers.__version__}, torch {torch.__version__}\n")
    print("| workload | texts | batch | embedrt texts/s | sentence-transformers texts/s | ratio | "
          "embedrt --no-deterministic texts/s | embedrt batch p50 / p99 ms | "
          "s-t batch p50 / p99 ms | embedrt peak RSS MB | s-t peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    def latency(r):  # null when the workload has fewer texts than one batch
        if r.get("batch_ms_p50") is None:
            return "n/a"
        return f"{r['batch_ms_p50']:.1f} / {r['batch_ms_p99']:.1f}"

    for r in rows:
        e, s = r["embedrt"], r["sentence_transformers"]
        print(f"| {r['workload']} | {r['texts']} | {r['batch_size']} | "
              f"{e['texts_per_second_median']:,.1f} | {s['texts_per_second_median']:,.1f} | "
              f"{r['ratio']:.2f}× | {r['embedrt_nondeterministic']['texts_per_second_median']:,.1f} | "
              f"{latency(e)} | {latency(s)} | {e['peak_rss_mb']:.0f} | "
              f"{s['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
