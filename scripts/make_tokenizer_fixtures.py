#!/usr/bin/env python3
"""Writes reference token ids and byte offsets for every test tokenizer over the corpus.

    make_tokenizer_fixtures.py [--test-data DIR] [--model-dir DIR]

For each DIR/tokenizers/<name>/tokenizer.json, encodes DIR/corpus.jsonl with HF `tokenizers`
(special tokens added, no padding) and writes DIR/tokenizer-parity/<name>.jsonl, one line per
text: {"text": str, "ids": [...], "offsets": [[begin, end], ...]} with offsets in BYTES of the
UTF-8 text, and <name>.truncated.jsonl, the same with right truncation to 32 tokens.

Also writes alignment-cases.jsonl: the corner cases of tests/tokenizer/test_alignments.cpp whose
ids depend on the trained test vocabularies (and so on the corpus they were trained on), one line
per text: {"case", "tokenizer", "pre_tokenizer" (a replacement for tokenizer.json's, or null),
"text", "ids", "offsets", "type_ids"}. The tests take inputs and expectations from here instead of
hard-coding ids that only one corpus gives.

And pair-cases.jsonl: text pairs (cross-encoder inputs) through each test tokenizer's pair
template, and through BertProcessing / ByteLevel / Sequence replacements of the post-processor,
with and without special tokens and with longest_first truncation to a few lengths on both sides:
{"tokenizer", "post_processor" (a replacement or null), "a", "b", "add_special_tokens",
"max_length" (0: none), "side", "ids", "type_ids"}.

And minilm.sentence-transformers.jsonl: {"text", "ids"} with the ids sentence-transformers
itself feeds the model. In sentence-transformers 6.2, encode() hands texts unchanged to the
Transformer module's preprocess() (no strip; lowercasing only through the tokenizer's own
normalizer or do_lower_case), which calls the HF tokenizer with truncation to max_seq_length;
the ids are taken from that call with the padding removed through the attention mask.
"""

import argparse
import itertools
import json
import os
import sys
from pathlib import Path

from tokenizers import Tokenizer

from fixture_io import read_texts, write_jsonl

REPO_ROOT = Path(__file__).resolve().parent.parent
TRUNCATED_LENGTH = 32
ST_BATCH = 256


def log(message):
    print(f"make_tokenizer_fixtures: {message}", file=sys.stderr)


def utf8_length(char):
    return 1 if char < "\x80" else 2 if char < "\u0800" else 3 if char < "\U00010000" else 4


def byte_offsets(text, char_offsets):
    # HF reports offsets in characters (code points); the C++ side works in UTF-8 bytes.
    if text.isascii():
        return char_offsets
    byte_at = list(itertools.accumulate(map(utf8_length, text), initial=0))
    return [(byte_at[begin], byte_at[end]) for begin, end in char_offsets]


def encode_all(tokenizer, texts):
    encodings = tokenizer.encode_batch(texts, add_special_tokens=True)
    return [{"text": text, "ids": e.ids, "offsets": byte_offsets(text, e.offsets)}
            for text, e in zip(texts, encodings)]


def write_tokenizer_fixtures(tokenizer_json, texts, out_dir):
    name = tokenizer_json.parent.name
    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    full = encode_all(tokenizer, texts)
    write_jsonl(out_dir / f"{name}.jsonl", full)
    tokenizer.enable_truncation(max_length=TRUNCATED_LENGTH, direction="right")
    write_jsonl(out_dir / f"{name}.truncated.jsonl", encode_all(tokenizer, texts))
    log(f"{name}: {len(texts)} texts, {sum(len(r['ids']) for r in full)} tokens")
    return full


_METASPACE_FIRST = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first",
                    "split": True}
# (case, tokenizer, pre_tokenizer replacement or None, texts)
ALIGNMENT_CASES = [
    # "first" prepends to the piece whose original_shift is 0, even after the normalizer removed
    # leading characters (\x1e and \x04 are removed by the unigram tokenizer's Precompiled map).
    ("metaspace-first", "unigram", _METASPACE_FIRST,
     ["\x1eThe end", "\x04\x04Hi there", "Hi\x04 there"]),
    # With a splitting pre-tokenizer before it, only the first word qualifies.
    ("metaspace-first-split", "unigram",
     {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, _METASPACE_FIRST]},
     ["\x1eThe end", "Hi there"]),
    # "<br>" is a non-special added token with lstrip: its match takes in the whitespace before it,
    # which RobertaProcessing's offset trimming removes again whatever kind of whitespace it is.
    ("lstrip-added-token", "bpe", None, ["blast\t<br> SELECT", "x\u3000<br>", "a\t<br>\tb"]),
]


def alignment_case_records(tokenizers_dir):
    for case, name, pre_tokenizer, texts in ALIGNMENT_CASES:
        path = tokenizers_dir / name / "tokenizer.json"
        config = json.loads(path.read_text(encoding="utf-8"))
        if pre_tokenizer is not None:
            config["pre_tokenizer"] = pre_tokenizer
        tokenizer = Tokenizer.from_str(json.dumps(config))
        for text in texts:
            e = tokenizer.encode(text, add_special_tokens=True)
            yield {"case": case, "tokenizer": name, "pre_tokenizer": pre_tokenizer, "text": text,
                   "ids": e.ids, "offsets": byte_offsets(text, e.offsets), "type_ids": e.type_ids}


def _bert_processing(tokenizer_json):
    config = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    vocab = config["model"]["vocab"]
    return {"type": "BertProcessing", "sep": ["[SEP]", vocab["[SEP]"]], "cls": ["[CLS]", vocab["[CLS]"]]}


def _byte_level_then_roberta(tokenizer_json):
    config = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    return {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        config["post_processor"]]}


PAIR_COUNT = 60
# (max_length, side): none, lengths that cut one or both sequences, an odd room, the left side.
PAIR_TRUNCATIONS = [(0, "right"), (12, "right"), (25, "right"), (40, "right"), (25, "left")]


def pair_case_records(tokenizers_dir, texts):
    variants = [(path.parent.name, None) for path in sorted(tokenizers_dir.glob("*/tokenizer.json"))]
    variants.append(("minilm", _bert_processing(tokenizers_dir / "minilm" / "tokenizer.json")))
    variants.append(("bpe", {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                             "use_regex": True}))
    variants.append(("bpe", _byte_level_then_roberta(tokenizers_dir / "bpe" / "tokenizer.json")))
    # Short and long texts against each other, in both orders, plus an empty side.
    pairs = [(texts[2 * i], texts[2 * i + 1]) for i in range(PAIR_COUNT)]
    pairs += [("", texts[0]), (texts[1], "")]
    for name, post_processor in variants:
        config = json.loads((tokenizers_dir / name / "tokenizer.json").read_text(encoding="utf-8"))
        if post_processor is not None:
            config["post_processor"] = post_processor
        tokenizer = Tokenizer.from_str(json.dumps(config))
        tokenizer.no_padding()
        for max_length, side in PAIR_TRUNCATIONS:
            if max_length:
                tokenizer.enable_truncation(max_length=max_length, strategy="longest_first",
                                            direction=side)
            else:
                tokenizer.no_truncation()
            for add_special_tokens in (True, False):
                for a, b in pairs:
                    e = tokenizer.encode(a, b, add_special_tokens=add_special_tokens)
                    yield {"tokenizer": name, "post_processor": post_processor, "a": a, "b": b,
                           "add_special_tokens": add_special_tokens, "max_length": max_length,
                           "side": side, "ids": e.ids, "type_ids": e.type_ids}


def sentence_transformers_ids(model_dir, texts):
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    model = SentenceTransformer(str(model_dir), device="cpu")
    ids = []
    for start in range(0, len(texts), ST_BATCH):
        features = model.preprocess(texts[start:start + ST_BATCH])
        for row, mask in zip(features["input_ids"].tolist(), features["attention_mask"].tolist()):
            ids.append([token for token, keep in zip(row, mask) if keep])
    return ids, model.max_seq_length


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-data", type=Path,
                        default=Path(os.environ.get("EMBEDRT_TEST_DATA") or REPO_ROOT / "test-data"))
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="all-MiniLM-L6-v2 folder (default: TEST_DATA/models/all-MiniLM-L6-v2)")
    args = parser.parse_args()

    corpus = args.test_data / "corpus.jsonl"
    tokenizers_dir = args.test_data / "tokenizers"
    out_dir = args.test_data / "tokenizer-parity"
    for needed in (corpus, tokenizers_dir):
        if not needed.exists():
            raise SystemExit(f"make_tokenizer_fixtures: {needed} not found (run make_test_data.sh)")
    texts = read_texts(corpus)

    minilm_full = None
    for tokenizer_json in sorted(tokenizers_dir.glob("*/tokenizer.json")):
        records = write_tokenizer_fixtures(tokenizer_json, texts, out_dir)
        if tokenizer_json.parent.name == "minilm":
            minilm_full = records

    write_jsonl(out_dir / "alignment-cases.jsonl", alignment_case_records(tokenizers_dir))
    log(f"alignment-cases: {sum(len(texts) for *_, texts in ALIGNMENT_CASES)} texts")

    pair_records = list(pair_case_records(tokenizers_dir, texts))
    write_jsonl(out_dir / "pair-cases.jsonl", pair_records)
    log(f"pair-cases: {len(pair_records)} pairs")

    model_dir = args.model_dir or args.test_data / "models" / "all-MiniLM-L6-v2"
    ids, max_length = sentence_transformers_ids(model_dir, texts)
    write_jsonl(out_dir / "minilm.sentence-transformers.jsonl",
                ({"text": text, "ids": row} for text, row in zip(texts, ids)))
    truncated = sum(len(row) == max_length for row in ids)
    log(f"minilm.sentence-transformers: {len(ids)} texts, max_seq_length {max_length}, {truncated} at the limit")
    if minilm_full is not None:
        # Expected to agree with plain tokenizers output cut to max_length with [SEP] kept.
        differ = sum(row != (r["ids"] if len(r["ids"]) <= max_length else r["ids"][:max_length - 1] + r["ids"][-1:])
                     for row, r in zip(ids, minilm_full))
        log(f"minilm.sentence-transformers: {differ} texts differ from tokenizers truncated to {max_length}")


if __name__ == "__main__":
    main()
