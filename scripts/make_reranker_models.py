#!/usr/bin/env python3
"""Creates tiny random-weight cross-encoder (reranker) folders with reference scores.

    make_reranker_models.py --test-data DIR

Each model is a transformers <Family>ForSequenceClassification with random weights, saved either
by sentence-transformers' CrossEncoder (config_sentence_transformers.json with model_type
CrossEncoder and activation_fn) or as a plain Hugging Face folder (save_pretrained only). Written
to DIR/reranker-models/<name>; DIR/reranker-models/<name>/reference.jsonl holds, for 240 pairs of
corpus texts (long ones truncated with longest_first to the tokenizer's model_max_length), the
ids CrossEncoder feeds the model, its raw logits (activation Identity) and its default scores
(CrossEncoder.predict as loaded: sigmoid for one label, the logits otherwise), one line per pair:
{"query", "document", "ids", "type_ids", "logits": [...], "scores": [...]}.

  tiny-bert-ce-1      BERT, MiniLM's WordPiece tokenizer, 1 label, CrossEncoder folder
  tiny-bert-ce-3      BERT, 3 labels (id2label), plain Hugging Face folder
  tiny-xlmr-ce-1      XLM-RoBERTa over the test unigram tokenizer, 1 label, CrossEncoder folder
  tiny-xlmr-ce-3      XLM-RoBERTa, 3 labels, plain Hugging Face folder
  tiny-modernbert-ce-1       ModernBERT over the test byte-level BPE tokenizer ("<s> A </s> B </s>"),
                             sliding-window layers with a window of 16 tokens (pairs reach 96),
                             classifier_pooling cls, 1 label, CrossEncoder folder
  tiny-modernbert-mean-ce-1  the same with classifier_pooling mean, classifier_bias, norm biases and
                             classifier_activation gelu_pytorch_tanh, plain Hugging Face folder
  tiny-mpnet-ce-1            MPNet over MiniLM's WordPiece tokenizer, 1 label, CrossEncoder folder

And tiny SPLADE models (BertForMaskedLM + SpladePooling, saved by SparseEncoder) with
DIR/reranker-models/<name>/reference.jsonl: {"text", "indices", "values"} from SparseEncoder.encode
for 200 corpus texts:

  tiny-bert-splade          max pooling, relu (log1p once), MLMTransformer module (as saved by
                            sentence-transformers 5)
  tiny-bert-splade-sum      sum pooling, log1p_relu (log1p twice), Transformer module with
                            transformer_task "fill-mask" (as sentence-transformers 6 saves it)
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from sentence_transformers import CrossEncoder
from transformers import (BertConfig, BertForSequenceClassification, BertTokenizerFast,
                          ModernBertForSequenceClassification, MPNetConfig,
                          MPNetForSequenceClassification, PreTrainedTokenizerFast, XLMRobertaConfig,
                          XLMRobertaForSequenceClassification)
from transformers.utils import logging as transformers_logging

from fixture_io import read_texts, write_jsonl
from make_embedding_fixtures import sample_texts
from make_family_models import modernbert_config, modernbert_tokenizer, randomize_norms_and_biases

REPO_ROOT = Path(__file__).resolve().parent.parent
PAIR_COUNT = 240
MAX_LENGTH = 96  # pairs longer than this are truncated (longest_first), as CrossEncoder does


def log(message):
    print(f"make_reranker_models: {message}", file=sys.stderr)


def labels(count):
    return {"num_labels": count, "id2label": {i: f"LABEL_{i}" for i in range(count)},
            "label2id": {f"LABEL_{i}": i for i in range(count)}}


def bert(test_data, num_labels):
    # BERT's own tokenizer class, so that token type ids reach the model as they do for real BERT
    # cross-encoders (a generic tokenizer class leaves them out).
    tokenizer = BertTokenizerFast(
        tokenizer_file=str(test_data / "models" / "all-MiniLM-L6-v2" / "tokenizer.json"),
        unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]",
        mask_token="[MASK]", model_max_length=MAX_LENGTH)
    config = BertConfig(
        vocab_size=tokenizer.backend_tokenizer.get_vocab_size(), hidden_size=32,
        num_attention_heads=4, num_hidden_layers=2, intermediate_size=64, max_position_embeddings=128,
        initializer_range=0.1, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        **labels(num_labels))
    return tokenizer, BertForSequenceClassification(config)


def xlm_roberta(test_data, num_labels):
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(test_data / "tokenizers" / "unigram" / "tokenizer.json"), bos_token="<s>",
        eos_token="</s>", sep_token="</s>", cls_token="<s>", unk_token="<unk>", pad_token="<pad>",
        mask_token="<mask>", model_max_length=MAX_LENGTH)
    config = XLMRobertaConfig(
        vocab_size=tokenizer.backend_tokenizer.get_vocab_size(), hidden_size=32,
        num_attention_heads=4, num_hidden_layers=2, intermediate_size=64, type_vocab_size=1,
        max_position_embeddings=MAX_LENGTH + 2, layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0,
        eos_token_id=2, initializer_range=0.1, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, **labels(num_labels))
    return tokenizer, XLMRobertaForSequenceClassification(config)


def modernbert(test_data, num_labels, **fields):
    # The tokenizer file is written beside the model; the folder keeps only tokenizer.json.
    with tempfile.TemporaryDirectory() as tokenizer_dir:
        tokenizer = modernbert_tokenizer(test_data, Path(tokenizer_dir))
    tokenizer.model_max_length = MAX_LENGTH
    config = modernbert_config(
        tokenizer, hidden_size=32, num_attention_heads=4, intermediate_size=48,
        local_attention=16, global_attn_every_n_layers=3,  # full, sliding, sliding
        global_rope_theta=5000.0, local_rope_theta=100.0, **labels(num_labels), **fields)
    return tokenizer, ModernBertForSequenceClassification(config)


def modernbert_mean(test_data, num_labels):
    return modernbert(test_data, num_labels, classifier_pooling="mean", classifier_bias=True,
                      classifier_activation="gelu_pytorch_tanh", norm_bias=True, norm_eps=1e-6)


def mpnet(test_data, num_labels):
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(test_data / "models" / "all-MiniLM-L6-v2" / "tokenizer.json"),
        unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]",
        mask_token="[MASK]", model_max_length=MAX_LENGTH)
    config = MPNetConfig(
        vocab_size=tokenizer.backend_tokenizer.get_vocab_size(), hidden_size=32,
        num_attention_heads=4, num_hidden_layers=2, intermediate_size=64,
        max_position_embeddings=MAX_LENGTH + 2, layer_norm_eps=1e-5, pad_token_id=0,
        initializer_range=0.1, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        **labels(num_labels))
    model = MPNetForSequenceClassification(config)
    with torch.no_grad():  # O(1) relative position biases, so that they count in the scores
        model.mpnet.encoder.relative_attention_bias.weight.normal_(mean=0.0, std=1.0)
    return tokenizer, model


# (name, seed, builder, labels, saved by CrossEncoder)
MODELS = [("tiny-bert-ce-1", 41, bert, 1, True), ("tiny-bert-ce-3", 42, bert, 3, False),
          ("tiny-xlmr-ce-1", 43, xlm_roberta, 1, True), ("tiny-xlmr-ce-3", 44, xlm_roberta, 3, False),
          ("tiny-modernbert-ce-1", 45, modernbert, 1, True),
          ("tiny-modernbert-mean-ce-1", 46, modernbert_mean, 1, False),
          ("tiny-mpnet-ce-1", 47, mpnet, 1, True)]


def make_model(name, seed, build, num_labels, as_cross_encoder, test_data):
    folder = test_data / "reranker-models" / name
    if folder.exists():
        shutil.rmtree(folder)
    torch.manual_seed(seed)
    tokenizer, model = build(test_data, num_labels)
    model = model.eval()
    randomize_norms_and_biases(model)
    if as_cross_encoder:
        with tempfile.TemporaryDirectory() as hf_dir:
            model.save_pretrained(hf_dir, safe_serialization=True)
            tokenizer.save_pretrained(hf_dir)
            CrossEncoder(hf_dir, device="cpu").save(str(folder))
    else:
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
    return folder


def write_reference(folder, pairs):
    cross_encoder = CrossEncoder(str(folder), device="cpu")
    scores = cross_encoder.predict(pairs, batch_size=32, convert_to_numpy=True)
    logits = cross_encoder.predict(pairs, batch_size=32, convert_to_numpy=True,
                                   activation_fn=torch.nn.Identity())
    tokenizer = cross_encoder.tokenizer
    records = []
    for (query, document), score, logit in zip(pairs, scores, logits):
        features = tokenizer(query, document, truncation="longest_first", max_length=MAX_LENGTH)
        records.append({"query": query, "document": document, "ids": features["input_ids"],
                        "type_ids": features.get("token_type_ids",
                                                 [0] * len(features["input_ids"])),
                        "logits": [float(x) for x in logit.reshape(-1)],
                        "scores": [float(x) for x in score.reshape(-1)]})
    write_jsonl(folder / "reference.jsonl", records)
    truncated = sum(len(r["ids"]) == MAX_LENGTH for r in records)
    log(f"{folder.name}: {len(records)} pairs, {truncated} at max_length {MAX_LENGTH}, "
        f"activation {type(cross_encoder.activation_fn).__name__}")


SPLADE_TEXTS = 200
# (name, seed, pooling_strategy, activation_function, MLM module): sentence-transformers 5 saved
# the MLM as MLMTransformer; 6 saves a Transformer with transformer_task "fill-mask".
SPLADE_MODELS = [("tiny-bert-splade", 51, "max", "relu", "MLMTransformer"),
                 ("tiny-bert-splade-sum", 52, "sum", "log1p_relu", "Transformer")]


def make_splade(name, seed, strategy, activation, module, test_data, texts):
    from sentence_transformers import SparseEncoder
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sparse_encoder.modules.mlm_transformer import MLMTransformer
    from sentence_transformers.sparse_encoder.modules.splade_pooling import SpladePooling
    from transformers import BertForMaskedLM

    folder = test_data / "reranker-models" / name
    if folder.exists():
        shutil.rmtree(folder)
    torch.manual_seed(seed)
    tokenizer, _ = bert(test_data, 1)
    config = BertConfig(
        vocab_size=tokenizer.backend_tokenizer.get_vocab_size(), hidden_size=32,
        num_attention_heads=4, num_hidden_layers=2, intermediate_size=64, max_position_embeddings=128,
        initializer_range=0.1, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertForMaskedLM(config).eval()
    randomize_norms_and_biases(model)
    # Real SPLADE vectors have a few hundred non-zeros of 30,522; a negative output bias gives
    # random weights the same sparsity (and keeps the reference small).
    with torch.no_grad():
        model.cls.predictions.bias.sub_(2.2)
    with tempfile.TemporaryDirectory() as hf_dir:
        model.save_pretrained(hf_dir, safe_serialization=True)
        tokenizer.save_pretrained(hf_dir)
        if module == "MLMTransformer":
            mlm = MLMTransformer(hf_dir, max_seq_length=MAX_LENGTH)
        else:
            mlm = Transformer(hf_dir, transformer_task="fill-mask", max_seq_length=MAX_LENGTH)
        pooling = SpladePooling(pooling_strategy=strategy, activation_function=activation,
                                embedding_dimension=mlm.get_embedding_dimension())
        SparseEncoder(modules=[mlm, pooling], device="cpu").save(str(folder))
    encoder = SparseEncoder(str(folder), device="cpu")
    dense = encoder.encode(texts, batch_size=32, convert_to_tensor=True).to_dense().numpy()
    records = []
    for text, row in zip(texts, dense):
        nonzero = row.nonzero()[0]
        records.append({"text": text, "indices": [int(i) for i in nonzero],
                        "values": [float(row[i]) for i in nonzero]})
    write_jsonl(folder / "reference.jsonl", records)
    log(f"{name}: {len(records)} texts, {sum(len(r['indices']) for r in records) / len(records):.0f} "
        f"non-zeros per text ({strategy}, {activation})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-data", type=Path,
                        default=Path(os.environ.get("EMBEDRT_TEST_DATA") or REPO_ROOT / "test-data"))
    parser.add_argument("--only", nargs="*", help="make only these models (default: all)")
    args = parser.parse_args()
    transformers_logging.disable_progress_bar()
    test_data = args.test_data.resolve()
    texts = sample_texts(read_texts(test_data / "corpus.jsonl"), 2 * PAIR_COUNT)
    pairs = [(texts[2 * i], texts[2 * i + 1]) for i in range(PAIR_COUNT)]
    for name, seed, build, num_labels, as_cross_encoder in MODELS:
        if args.only and name not in args.only:
            continue
        folder = make_model(name, seed, build, num_labels, as_cross_encoder, test_data)
        write_reference(folder, pairs)
    for name, seed, strategy, activation, module in SPLADE_MODELS:
        if args.only and name not in args.only:
            continue
        make_splade(name, seed, strategy, activation, module, test_data, texts[:SPLADE_TEXTS])


if __name__ == "__main__":
    main()
