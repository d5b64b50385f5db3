#!/usr/bin/env python3
"""Writes the sentence-transformers references for the real MPNet model, all-mpnet-base-v2.

    make_mpnet_fixtures.py [--test-data DIR] [--sts FILE]

Reads DIR/models/all-mpnet-base-v2 (fetch_model.py all-mpnet-base-v2, linked by
make_test_data.sh) and writes, with sentence-transformers in fp32, batch 32:
  DIR/real-models/all-mpnet-base-v2/   texts.jsonl, embeddings.npy, meta.json: 512 corpus texts
                                       (edge cases and texts past max_seq_length 384 included)
  DIR/sts/all-mpnet-base-v2.json       STS-B dev Spearman of its cosine similarities
They sit apart from DIR/embeddings/, whose parity runs again at every ISA level: this 110M-parameter
model is checked once, by tests/e2e/test_all_mpnet.py.
"""

import argparse
import os
from pathlib import Path

import torch
from transformers.utils import logging as transformers_logging

from fixture_io import read_texts
from make_embedding_fixtures import DEFAULT_STS, sample_texts, write_embeddings, write_sts

REPO_ROOT = Path(__file__).resolve().parent.parent
NAME = "all-mpnet-base-v2"
TEXT_COUNT = 512


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-data", type=Path,
                        default=Path(os.environ.get("EMBEDRT_TEST_DATA") or REPO_ROOT / "test-data"))
    parser.add_argument("--sts", type=Path, default=DEFAULT_STS)
    args = parser.parse_args()
    transformers_logging.disable_progress_bar()
    torch.manual_seed(0)
    test_data = args.test_data.resolve()
    model_dir = test_data / "models" / NAME
    corpus_path = test_data / "corpus.jsonl"
    for needed in (corpus_path, model_dir / "config.json"):
        if not needed.exists():
            raise SystemExit(f"make_mpnet_fixtures: {needed} not found (run make_test_data.sh)")
    texts = sample_texts(read_texts(corpus_path), TEXT_COUNT)
    model = write_embeddings(model_dir, NAME, texts, test_data, out_root="real-models")
    write_sts(model, args.sts, test_data, name=NAME, out_name=f"{NAME}.json")


if __name__ == "__main__":
    main()
