#!/usr/bin/env python3
"""Creates tiny random-weight sentence-transformers folders whose module chain goes past
Transformer + Pooling + Normalize, with their reference embeddings.

    make_module_models.py --test-data DIR

Every folder is built from sentence-transformers modules and saved by sentence-transformers, so
it is laid out as a published model is. Written to DIR/module-models/<name>; the reference
embeddings of 512 corpus texts (edge cases and texts past max_seq_length included) go to
DIR/module-embeddings/<name> (texts.jsonl, embeddings.npy, meta.json as in
make_embedding_fixtures.py, outside embeddings/ because these chains have no single Pooling).

  tiny-dense            BERT, mean pooling, Dense 32->48 (tanh, bias), Dense 48->24 (identity, no
                        bias), Normalize: the EmbeddingGemma layout.
  tiny-layernorm        BERT, CLS pooling, LayerNorm (random affine weights), no Normalize.
  tiny-static           StaticEmbedding over the test unigram tokenizer (its template adds <s> and
                        </s>, which StaticEmbedding leaves out), random table, Normalize.
  tiny-static-dense     StaticEmbedding over the test BPE tokenizer with truncation set in
                        tokenizer.json (StaticEmbedding keeps it), Dense 40->16 (relu, bias).
  tiny-dense-old-names  tiny-dense with modules.json rewritten to the sentence_transformers.models.*
                        names that releases before 6 wrote; the reference is computed by loading
                        the rewritten folder, so it also shows that sentence-transformers still
                        accepts them.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules.dense import Dense
from sentence_transformers.base.modules.normalize import Normalize
from sentence_transformers.base.modules.transformer import Transformer
from sentence_transformers.sentence_transformer.modules.layer_norm import LayerNorm
from sentence_transformers.sentence_transformer.modules.pooling import Pooling
from sentence_transformers.sentence_transformer.modules.static_embedding import StaticEmbedding
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast
from transformers.utils import logging as transformers_logging

from fixture_io import read_texts, write_jsonl
from make_embedding_fixtures import BATCH_SIZE, sample_texts, versions
from make_family_models import randomize_norms_and_biases

REPO_ROOT = Path(__file__).resolve().parent.parent
TEXT_COUNT = 512
MAX_SEQ_LENGTH = 128
STATIC_TRUNCATION = 24
OLD_NAMES = {
    "Transformer": "sentence_transformers.models.Transformer",
    "Pooling": "sentence_transformers.models.Pooling",
    "Dense": "sentence_transformers.models.Dense",
    "Normalize": "sentence_transformers.models.Normalize",
    "LayerNorm": "sentence_transformers.models.LayerNorm",
    "StaticEmbedding": "sentence_transformers.models.StaticEmbedding",
}


def log(message):
    print(f"make_module_models: {message}", file=sys.stderr)


def bert_transformer(test_data, hf_dir):
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(test_data / "tokenizers" / "bert-cased" / "tokenizer.json"), unk_token="[UNK]",
        sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]", model_max_length=512)
    config = BertConfig(
        vocab_size=tokenizer.backend_tokenizer.get_vocab_size(), hidden_size=32, num_attention_heads=4,
        num_hidden_layers=2, intermediate_size=64, hidden_act="gelu", type_vocab_size=2,
        max_position_embeddings=512, initializer_range=0.1, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0)
    model = BertModel(config, add_pooling_layer=False).eval()
    randomize_norms_and_biases(model)
    model.save_pretrained(hf_dir, safe_serialization=True)
    tokenizer.save_pretrained(hf_dir)
    return Transformer(str(hf_dir), max_seq_length=MAX_SEQ_LENGTH)


def static_embedding(tokenizer_file, dim, truncation=None):
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    if truncation:
        tokenizer.enable_truncation(max_length=truncation)
    weights = torch.randn(tokenizer.get_vocab_size(), dim) * 0.5
    return StaticEmbedding(tokenizer, embedding_weights=weights)


def tiny_dense(test_data, hf_dir):
    transformer = bert_transformer(test_data, hf_dir)
    first = Dense(32, 48, bias=True, activation_function=torch.nn.Tanh())
    second = Dense(48, 24, bias=False, activation_function=torch.nn.Identity())
    for dense in (first, second):
        randomize_norms_and_biases(dense)
    return [transformer, Pooling(32, "mean"), first, second, Normalize()]


def tiny_layernorm(test_data, hf_dir):
    transformer = bert_transformer(test_data, hf_dir)
    norm = LayerNorm(32)
    randomize_norms_and_biases(norm)
    return [transformer, Pooling(32, "cls"), norm]


def tiny_static(test_data, hf_dir):
    return [static_embedding(test_data / "tokenizers" / "unigram" / "tokenizer.json", 64), Normalize()]


def tiny_static_dense(test_data, hf_dir):
    static = static_embedding(test_data / "tokenizers" / "bpe" / "tokenizer.json", 40, STATIC_TRUNCATION)
    dense = Dense(40, 16, bias=True, activation_function=torch.nn.ReLU())
    randomize_norms_and_biases(dense)
    return [static, dense]


MODELS = [("tiny-dense", 31, tiny_dense), ("tiny-layernorm", 32, tiny_layernorm),
          ("tiny-static", 33, tiny_static), ("tiny-static-dense", 34, tiny_static_dense)]


def rename_to_old_names(source, target):
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    modules = json.loads((target / "modules.json").read_text())
    for module in modules:
        module["type"] = OLD_NAMES[module["type"].rsplit(".", 1)[-1]]
    (target / "modules.json").write_text(json.dumps(modules, indent=2) + "\n")
    return target


def write_embeddings(folder, texts, test_data):
    model = SentenceTransformer(str(folder), device="cpu", model_kwargs={"dtype": torch.float32})
    embeddings = model.encode(texts, batch_size=BATCH_SIZE, convert_to_numpy=True, show_progress_bar=False)
    embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
    assert embeddings.shape[0] == len(texts) and np.isfinite(embeddings).all()
    out = test_data / "module-embeddings" / folder.name
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "texts.jsonl", ({"text": text} for text in texts))
    np.save(out / "embeddings.npy", embeddings)
    max_seq_length = model.max_seq_length
    meta = {
        "model": str(folder.relative_to(test_data)),
        "count": len(texts),
        "dimension": int(embeddings.shape[1]),
        "modules": [type(module).__name__ for module in model],
        "max_seq_length": max_seq_length if isinstance(max_seq_length, int) else None,
        "batch_size": BATCH_SIZE,
        "dtype": "float32",
        "versions": versions(),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    log(f"{folder.name}: {embeddings.shape}, modules {' -> '.join(meta['modules'])}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-data", type=Path,
                        default=Path(os.environ.get("EMBEDRT_TEST_DATA") or REPO_ROOT / "test-data"))
    args = parser.parse_args()
    transformers_logging.disable_progress_bar()
    test_data = args.test_data.resolve()
    corpus_path = test_data / "corpus.jsonl"
    for needed in [corpus_path] + [test_data / "tokenizers" / name / "tokenizer.json"
                                   for name in ("bert-cased", "unigram", "bpe")]:
        if not needed.exists():
            raise SystemExit(f"make_module_models: {needed} not found (run make_test_data.sh)")
    texts = sample_texts(read_texts(corpus_path), TEXT_COUNT)
    root = test_data / "module-models"
    for name, seed, build in MODELS:
        folder = root / name
        if folder.exists():
            shutil.rmtree(folder)
        torch.manual_seed(seed)
        with tempfile.TemporaryDirectory() as hf_dir:
            SentenceTransformer(modules=build(test_data, Path(hf_dir)), device="cpu").save(str(folder))
        write_embeddings(folder, texts, test_data)
    write_embeddings(rename_to_old_names(root / "tiny-dense", root / "tiny-dense-old-names"), texts, test_data)


if __name__ == "__main__":
    main()
