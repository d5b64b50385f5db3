#!/usr/bin/env python3
"""Writes reference embeddings from sentence-transformers and the STS-B dev reference score.

    make_embedding_fixtures.py [--test-data DIR] [--sts FILE]

For all-MiniLM-L6-v2 (DIR/models/all-MiniLM-L6-v2) and every DIR/tiny-models/<name>, encodes a
fixed sample of the corpus (1,000 texts for MiniLM, 200 for tiny models, always including the
corpus's edge cases and texts longer than max_seq_length) with sentence-transformers in fp32,
batch 32, and writes DIR/embeddings/<model>/texts.jsonl, embeddings.npy (float32 [N, D]) and
meta.json. Models with a default prompt are encoded as encode() does by default, with the prompt.
DIR/embeddings/all-MiniLM-L6-v2-512 holds 64 long texts encoded with max_seq_length raised to 512
(meta.json "max_length": the limit to encode them with).

Also writes DIR/sts/minilm.json: Spearman correlation between the cosine similarity of MiniLM
embeddings and the gold score over the STS-B dev pairs.
"""

import argparse
import json
import os
import random
import sys
from pathlib import Path

import numpy as np
import scipy
import scipy.stats
import sentence_transformers
import tokenizers
import torch
import transformers
from sentence_transformers import SentenceTransformer
from transformers.utils import logging as transformers_logging

from fixture_io import read_texts, write_jsonl
from make_corpus import EDGE_CASES

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STS = REPO_ROOT.parent / "shared" / "data" / "stsbenchmark" / "sts-dev.csv"
BATCH_SIZE = 32
SAMPLE_SEED = 1234
LONG_TEXT_CHARS = 1500  # comfortably past 256 tokens


def log(message):
    print(f"make_embedding_fixtures: {message}", file=sys.stderr)


def versions():
    return {"sentence_transformers": sentence_transformers.__version__, "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__}


def sample_texts(corpus, count):
    """Edge cases, then a seeded mix in which about one text in 16 is longer than the limit."""
    rng = random.Random(SAMPLE_SEED)
    edge_count = len(EDGE_CASES)
    if corpus[:edge_count] != EDGE_CASES:
        raise SystemExit("make_embedding_fixtures: corpus.jsonl does not start with make_corpus.EDGE_CASES; "
                         "regenerate it with make_corpus.py")
    rest = corpus[edge_count:]
    long = [t for t in rest if len(t) > LONG_TEXT_CHARS]
    short = [t for t in rest if len(t) <= LONG_TEXT_CHARS]
    remaining = count - edge_count
    picked = rng.sample(long, min(len(long), remaining // 16))
    picked += rng.sample(short, remaining - len(picked))
    rng.shuffle(picked)
    return corpus[:edge_count] + picked


def load(model_dir):
    # Reference vectors are fp32 whatever dtype the weights are stored in.
    return SentenceTransformer(str(model_dir), device="cpu", model_kwargs={"dtype": torch.float32})


def embedding_dimension(model):
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return getter()


def describe(model, model_dir, test_data, count):
    pooling = next(module for module in model if type(module).__name__ == "Pooling")
    modes = pooling.pooling_mode
    default_prompt_name = model.default_prompt_name
    return {
        "model": str(model_dir.relative_to(test_data)) if model_dir.is_relative_to(test_data) else str(model_dir),
        "count": count,
        "dimension": int(embedding_dimension(model)),
        "normalize": any(type(module).__name__ == "Normalize" for module in model),
        "pooling": [modes] if isinstance(modes, str) else list(modes),
        "include_prompt": pooling.include_prompt,
        "max_seq_length": model.max_seq_length,
        "prompt_name": default_prompt_name,
        "prompt": model.prompts.get(default_prompt_name) if default_prompt_name else None,
        "batch_size": BATCH_SIZE,
        "dtype": "float32",
        "versions": versions(),
    }


def write_embeddings(model_dir, name, texts, test_data, max_length=None, out_root="embeddings"):
    model = load(model_dir)
    if max_length:  # as a user raises it, up to the position embeddings
        model.max_seq_length = max_length
    embeddings = model.encode(texts, batch_size=BATCH_SIZE, convert_to_numpy=True, show_progress_bar=False)
    embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
    assert embeddings.shape[0] == len(texts) and np.isfinite(embeddings).all()
    out = test_data / out_root / name
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "texts.jsonl", ({"text": text} for text in texts))
    np.save(out / "embeddings.npy", embeddings)
    meta = describe(model, model_dir, test_data, len(texts))
    if max_length:
        meta["max_length"] = max_length  # encode with --max-length
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    log(f"{name}: {embeddings.shape}, pooling {'+'.join(meta['pooling'])}, max_seq_length {meta['max_seq_length']}")
    return model


def read_sts(path):
    """(score, sentence1, sentence2) per line; some lines carry extra columns after the pair."""
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        columns = line.split("\t")
        if len(columns) < 7:
            raise SystemExit(f"make_embedding_fixtures: {path}:{number}: expected at least 7 tab-separated columns")
        pairs.append((float(columns[4]), columns[5], columns[6]))
    return pairs


def write_sts(model, sts_path, test_data, name="all-MiniLM-L6-v2", out_name="minilm.json"):
    if not sts_path.is_file():
        log(f"STS skipped: {sts_path} not found")
        return
    pairs = read_sts(sts_path)
    sentences = list(dict.fromkeys(s for _, a, b in pairs for s in (a, b)))
    vectors = model.encode(sentences, batch_size=BATCH_SIZE, convert_to_numpy=True, show_progress_bar=False)
    index = {sentence: i for i, sentence in enumerate(sentences)}
    a = vectors[[index[p[1]] for p in pairs]]
    b = vectors[[index[p[2]] for p in pairs]]
    cosine = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    gold = np.array([p[0] for p in pairs])
    spearman = float(scipy.stats.spearmanr(cosine, gold).statistic)
    result = {"model": name, "split": "dev", "file": sts_path.name, "pairs": len(pairs),
              "spearman": spearman, "versions": versions()}
    out = test_data / "sts" / out_name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"STS-B dev ({name}): spearman {spearman:.6f} over {len(pairs)} pairs")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-data", type=Path,
                        default=Path(os.environ.get("EMBEDRT_TEST_DATA") or REPO_ROOT / "test-data"))
    parser.add_argument("--sts", type=Path, default=DEFAULT_STS)
    args = parser.parse_args()
    transformers_logging.disable_progress_bar()
    torch.manual_seed(0)
    test_data = args.test_data.resolve()

    corpus_path = test_data / "corpus.jsonl"
    minilm_dir = test_data / "models" / "all-MiniLM-L6-v2"
    for needed in (corpus_path, minilm_dir / "config.json"):
        if not needed.exists():
            raise SystemExit(f"make_embedding_fixtures: {needed} not found (run make_test_data.sh)")
    corpus = read_texts(corpus_path)

    minilm_texts = sample_texts(corpus, 1000)
    minilm = write_embeddings(minilm_dir, "all-MiniLM-L6-v2", minilm_texts, test_data)
    # Past the configured 256 tokens, up to the 512 position embeddings: the long texts of the
    # sample, and pairs of them joined (most past 512, so truncated there).
    long = [t for t in minilm_texts if len(t) > LONG_TEXT_CHARS][:32]
    joined = [long[i] + " " + long[(i + 1) % len(long)] for i in range(len(long))]
    write_embeddings(minilm_dir, "all-MiniLM-L6-v2-512", long + joined, test_data, max_length=512)
    write_sts(minilm, args.sts, test_data)
    tiny_texts = sample_texts(corpus, 200)
    for model_dir in sorted((test_data / "tiny-models").glob("*/config.json")):
        write_embeddings(model_dir.parent, model_dir.parent.name, tiny_texts, test_data)


if __name__ == "__main__":
    main()
