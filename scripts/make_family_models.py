#!/usr/bin/env python3
"""Creates tiny random-weight sentence-transformers folders for the non-BERT families, with their
reference embeddings.

    make_family_models.py --test-data DIR

Each family model is made with `transformers` (its own Config + Model classes, seeded), wrapped in
sentence-transformers modules (Transformer, Pooling, Normalize) and saved by sentence-transformers,
so the folder is laid out exactly as a published model is. Written to DIR/family-models/<name>;
the reference embeddings of 512 corpus texts (edge cases and texts past max_seq_length included)
go to DIR/embeddings/<name> in the format of make_embedding_fixtures.py.

  tiny-xlm-roberta  XLMRobertaModel over the test unigram tokenizer (XLM-R special tokens,
                    pad id 1, so positions start at 2); the position table is exactly
                    max_seq_length + 2 long.
  tiny-distilbert   DistilBertModel over MiniLM's WordPiece tokenizer, relu activation.
  tiny-mpnet        MPNetModel over MiniLM's WordPiece tokenizer: positions from 2 (a table
                    exactly max_seq_length + 2 long) and the relative position bias, spread wide
                    so that a wrong bucket shows; 128 tokens reach every one of its 32 buckets.
"""

import argparse
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules.normalize import Normalize
from sentence_transformers.base.modules.transformer import Transformer
from sentence_transformers.sentence_transformer.modules.pooling import Pooling
from transformers import (DistilBertConfig, DistilBertModel, MPNetConfig, MPNetModel, PreTrainedTokenizerFast,
                          XLMRobertaConfig, XLMRobertaModel)
from transformers.utils import logging as transformers_logging

from fixture_io import read_texts
from make_embedding_fixtures import sample_texts, write_embeddings

REPO_ROOT = Path(__file__).resolve().parent.parent
TEXT_COUNT = 512
MAX_SEQ_LENGTH = 128


@dataclass
class Family:
    name: str
    seed: int
    pooling: str = "mean"
    normalize: bool = True


def log(message):
    print(f"make_family_models: {message}", file=sys.stderr)


def randomize_norms_and_biases(model):
    # Default initialization puts LayerNorm at (1, 0) and biases at 0, which would hide a loader
    # that drops or swaps them; spread them out so every tensor matters.
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("norm.weight") or name.endswith("LayerNorm.weight"):
                parameter.normal_(mean=1.0, std=0.2)
            elif name.endswith(".bias"):
                parameter.normal_(mean=0.0, std=0.1)


def xlm_roberta(test_data, hf_dir):
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(test_data / "tokenizers" / "unigram" / "tokenizer.json"), bos_token="<s>",
        eos_token="</s>", sep_token="</s>", cls_token="<s>", unk_token="<unk>", pad_token="<pad>",
        mask_token="<mask>", model_max_length=512)
    config = XLMRobertaConfig(
        vocab_size=tokenizer.backend_tokenizer.get_vocab_size(), hidden_size=32, num_attention_heads=4,
        num_hidden_layers=2, intermediate_size=64, hidden_act="gelu", type_vocab_size=1,
        max_position_embeddings=MAX_SEQ_LENGTH + 2, layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0,
        eos_token_id=2, initializer_range=0.1, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return tokenizer, XLMRobertaModel(config, add_pooling_layer=False)


def distilbert(test_data, hf_dir):
    minilm = test_data / "models" / "all-MiniLM-L6-v2"
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(minilm / "tokenizer.json"), unk_token="[UNK]", sep_token="[SEP]",
        pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]", model_max_length=512)
    config = DistilBertConfig(
        vocab_size=tokenizer.backend_tokenizer.get_vocab_size(), dim=32, n_heads=4, n_layers=2,
        hidden_dim=48, activation="relu", max_position_embeddings=512, sinusoidal_pos_embds=False,
        pad_token_id=0, initializer_range=0.1, dropout=0.0, attention_dropout=0.0)
    return tokenizer, DistilBertModel(config)


def mpnet(test_data, hf_dir):
    minilm = test_data / "models" / "all-MiniLM-L6-v2"
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(minilm / "tokenizer.json"), unk_token="[UNK]", sep_token="[SEP]",
        pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]", model_max_length=512)
    config = MPNetConfig(
        vocab_size=tokenizer.backend_tokenizer.get_vocab_size(), hidden_size=32, num_attention_heads=4,
        num_hidden_layers=2, intermediate_size=64, hidden_act="gelu", max_position_embeddings=MAX_SEQ_LENGTH + 2,
        layer_norm_eps=1e-5, relative_attention_num_buckets=32, pad_token_id=0, initializer_range=0.1,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = MPNetModel(config)
    with torch.no_grad():  # scores of this tiny model are O(1); so must the bias be, to count
        model.encoder.relative_attention_bias.weight.normal_(mean=0.0, std=1.0)
    return tokenizer, model


FAMILIES = [(Family("tiny-xlm-roberta", seed=21), xlm_roberta),
            (Family("tiny-distilbert", seed=22, pooling="cls", normalize=False), distilbert),
            (Family("tiny-mpnet", seed=23), mpnet)]


def make_family(family, build, test_data):
    folder = test_data / "family-models" / family.name
    if folder.exists():
        shutil.rmtree(folder)
    torch.manual_seed(family.seed)
    with tempfile.TemporaryDirectory() as hf_dir:
        tokenizer, model = build(test_data, Path(hf_dir))
        model = model.eval()
        randomize_norms_and_biases(model)
        model.save_pretrained(hf_dir, safe_serialization=True)
        tokenizer.save_pretrained(hf_dir)
        transformer = Transformer(hf_dir, max_seq_length=MAX_SEQ_LENGTH)
        modules = [transformer, Pooling(transformer.get_word_embedding_dimension(), family.pooling)]
        if family.normalize:
            modules.append(Normalize())
        SentenceTransformer(modules=modules, device="cpu").save(str(folder))
    log(f"wrote {folder} ({type(model).__name__}, pooling {family.pooling})")
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-data", type=Path,
                        default=Path(os.environ.get("EMBEDRT_TEST_DATA") or REPO_ROOT / "test-data"))
    args = parser.parse_args()
    transformers_logging.disable_progress_bar()
    test_data = args.test_data.resolve()
    corpus_path = test_data / "corpus.jsonl"
    for needed in (corpus_path, test_data / "tokenizers" / "unigram" / "tokenizer.json",
                   test_data / "models" / "all-MiniLM-L6-v2" / "tokenizer.json"):
        if not needed.exists():
            raise SystemExit(f"make_family_models: {needed} not found (run make_test_data.sh)")
    texts = sample_texts(read_texts(corpus_path), TEXT_COUNT)
    for family, build in FAMILIES:
        folder = make_family(family, build, test_data)
        write_embeddings(folder, family.name, texts, test_data)


if __name__ == "__main__":
    main()
