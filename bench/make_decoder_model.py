#!/usr/bin/env python3
"""Makes the decoder-embedder benchmark model: Qwen3-Embedding-0.6B's shape with random weights,
as a sentence-transformers folder, and (with --gguf) the same weights as llama.cpp GGUF files.
Made at benchmark time into a cache folder, never in CI (a 1.2 GB checkpoint and minutes of CPU).

    .venv-peers/bin/python bench/make_decoder_model.py --out ~/.cache/embedrt/bench/qwen3-0.6b-random \
        --gguf --llama-cpp-sdist llama_cpp_python-0.3.36.tar.gz

Model: transformers' Qwen3Model built from Qwen3-0.6B's config.json (hidden 1024, 28 layers, 16
query heads, 8 key/value heads, head_dim 128, intermediate 3072, vocab 151669, rope_theta 1e6,
tied embeddings), seeded, saved in bfloat16 (as the published checkpoint is). Modules: Transformer
-> Pooling(lasttoken) -> Normalize, as Qwen/Qwen3-Embedding-0.6B.

Tokenizer: a byte-level BPE trained here (HF tokenizers) on the repository's test corpus and the
STS-B sentences, built the way Qwen2/Qwen3's tokenizer.json is: NFC normalizer, the Qwen2 split
regex, byte-level alphabet without a prefix space, no BOS, and the Qwen3-Embedding post-processor
that appends <|endoftext|> (which last-token pooling reads). Its learned vocabulary (32,768) is
smaller than Qwen's 151,643 (the corpus is small); it is padded with entries no merge produces up
to 151,643, and the 26 special tokens follow at Qwen's ids (151643 = <|endoftext|> ... 151668,
151,669 in all, the config's size), so ids,
special tokens and the embedding table's size all match the real model's. Texts tokenize into
somewhat more (shorter) pieces than with Qwen's vocabulary; the benchmark sizes texts by this
tokenizer's counts, so every peer sees the same token counts.

GGUF: llama.cpp's own convert_hf_to_gguf.py (vendored in the llama-cpp-python sdist, which
--llama-cpp-sdist names), --outtype f16 and q8_0. Its pre-tokenizer check identifies a tokenizer
by hashing the tokens of a fixed text; a freshly trained vocabulary has no known hash, so the
converter is told "qwen2", the split regex this tokenizer uses.
"""
import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Qwen/Qwen3-0.6B config.json (the embedding model's is the same shape).
QWEN3_0_6B = dict(
    vocab_size=151669, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
    num_attention_heads=16, num_key_value_heads=8, head_dim=128, hidden_act="silu",
    max_position_embeddings=40960, rms_norm_eps=1e-6, rope_theta=1000000.0,
    tie_word_embeddings=True, attention_bias=False, attention_dropout=0.0,
    bos_token_id=151643, eos_token_id=151643, use_sliding_window=False, sliding_window=None,
    max_window_layers=28)

# Qwen2/Qwen3's pre-tokenizer split pattern (tokenizer.json of Qwen/Qwen3-0.6B).
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
FIRST_SPECIAL_ID = 151643
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
            "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
            "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
            "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
            "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>"]
BPE_VOCAB = 32768


def log(message):
    print(f"make_decoder_model: {message}", file=sys.stderr, flush=True)


def training_texts():
    texts = []
    corpus = ROOT / "test-data" / "corpus.jsonl"
    if corpus.exists():
        texts += [json.loads(line)["text"] for line in corpus.read_text(encoding="utf-8").splitlines()
                  if line.strip()]
    for sts in sorted((ROOT.parent / "shared" / "data" / "stsbenchmark").glob("sts-*.csv")) + \
            sorted((ROOT / "shared" / "data" / "stsbenchmark").glob("sts-*.csv")):
        for line in sts.read_text(encoding="utf-8").splitlines():
            cols = line.split("\t")
            texts += cols[5:7]
    if not texts:
        raise SystemExit("make_decoder_model: no training text (test-data/corpus.jsonl: run "
                         "scripts/make_test_data.sh)")
    return texts


def make_tokenizer(out: Path):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    texts = training_texts()
    tok.train_from_iterator(texts, trainer=trainer)
    learned = tok.get_vocab_size()
    spec = json.loads(tok.to_str())
    # Pad the BPE vocabulary to Qwen's 151,643 regular ids with entries no merge produces, so the
    # special tokens get Qwen's ids in every reader: tokenizers (and llama.cpp's converter, through
    # transformers) renumber added tokens whose ids leave a gap after the vocabulary.
    vocab = spec["model"]["vocab"]
    for i in range(learned, FIRST_SPECIAL_ID):
        vocab[f"<|fill_{i}|>"] = i
    spec["added_tokens"] = [
        {"id": FIRST_SPECIAL_ID + i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True} for i, s in enumerate(SPECIALS)]
    spec["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                 {"SpecialToken": {"id": "<|endoftext|>", "type_id": 1}}],
        "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [FIRST_SPECIAL_ID],
                                             "tokens": ["<|endoftext|>"]}}}
    (out / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    check = Tokenizer.from_file(str(out / "tokenizer.json"))
    ids = check.encode("Hello world").ids
    assert ids[-1] == FIRST_SPECIAL_ID and max(ids[:-1]) < learned, ids
    assert check.token_to_id("<|endoftext|>") == FIRST_SPECIAL_ID, check.token_to_id("<|endoftext|>")
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "Qwen2Tokenizer", "model_max_length": 32768, "padding_side": "left",
        "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "add_bos_token": False,
        "add_eos_token": True, "clean_up_tokenization_spaces": False, "errors": "replace"}, indent=2))
    (out / "special_tokens_map.json").write_text(json.dumps(
        {"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}, indent=2))
    log(f"tokenizer: {learned} learned tokens from {len(texts)} texts, specials at "
        f"{FIRST_SPECIAL_ID}..{FIRST_SPECIAL_ID + len(SPECIALS) - 1}")


def make_model(out: Path, seed: int, max_seq_length: int):
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules.normalize import Normalize
    from sentence_transformers.base.modules.transformer import Transformer
    from sentence_transformers.sentence_transformer.modules.pooling import Pooling
    from transformers import Qwen3Config, Qwen3Model

    with tempfile.TemporaryDirectory() as tmp:
        hf = Path(tmp)
        make_tokenizer(hf)
        torch.manual_seed(seed)
        config = Qwen3Config(**QWEN3_0_6B)
        config.architectures = ["Qwen3Model"]
        model = Qwen3Model(config).eval().to(torch.bfloat16)
        model.save_pretrained(str(hf), safe_serialization=True)
        del model
        transformer = Transformer(str(hf), max_seq_length=max_seq_length,
                                  model_kwargs={"dtype": torch.bfloat16})
        modules = [transformer, Pooling(transformer.get_embedding_dimension(), "lasttoken"), Normalize()]
        SentenceTransformer(modules=modules, device="cpu").save(str(out))
    # Saving through sentence-transformers keeps the checkpoint's bf16.
    log(f"wrote {out} (Qwen3Model, bf16, seed {seed})")


def llama_cpp_source(sdist: Path, cache: Path) -> Path:
    """The llama.cpp tree vendored in the llama-cpp-python sdist, unpacked once into `cache`."""
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        source = cache / top / "vendor" / "llama.cpp"
        if not (source / "convert_hf_to_gguf.py").exists():
            members = [m for m in tar.getmembers()
                       if m.name.startswith(f"{top}/vendor/llama.cpp/") and
                       any(part in m.name for part in ("convert_hf_to_gguf.py", "/conversion/", "/gguf-py/"))]
            tar.extractall(cache, members=members, filter="data")
    return source


CONVERT = """
import sys
source = sys.argv[1]
sys.path[:0] = [source, source + "/gguf-py"]
import conversion.base as base
# A freshly trained vocabulary has no known pre-tokenizer hash; its split regex is Qwen2's.
base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "qwen2"
import convert_hf_to_gguf
sys.argv = ["convert_hf_to_gguf.py"] + sys.argv[2:]
convert_hf_to_gguf.main()
"""


def make_gguf(model: Path, source: Path, outtype: str) -> Path:
    target = model / f"gguf/model-{outtype}.gguf"
    if target.exists():
        return target
    target.parent.mkdir(exist_ok=True)
    cmd = [sys.executable, "-c", CONVERT, str(source), str(model), "--outtype", outtype,
           "--outfile", str(target)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        target.unlink(missing_ok=True)
        raise SystemExit(f"make_decoder_model: convert_hf_to_gguf.py --outtype {outtype} failed:\n"
                         + "\n".join(result.stderr.strip().splitlines()[-15:]))
    log(f"wrote {target} ({target.stat().st_size / 2**20:.0f} MiB)")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-seq-length", type=int, default=512)
    parser.add_argument("--gguf", action="store_true", help="also write gguf/model-{f16,q8_0}.gguf")
    parser.add_argument("--llama-cpp-sdist", type=Path,
                        help="llama-cpp-python sdist (.tar.gz) whose vendored llama.cpp converts to GGUF")
    args = parser.parse_args()
    if not (args.out / "model.safetensors").exists():
        if args.out.exists():
            shutil.rmtree(args.out)
        make_model(args.out, args.seed, args.max_seq_length)
    if args.gguf:
        if not args.llama_cpp_sdist:
            raise SystemExit("make_decoder_model: --gguf needs --llama-cpp-sdist")
        source = llama_cpp_source(args.llama_cpp_sdist, args.out.parent / "llama-cpp-src")
        for outtype in ("f16", "q8_0"):
            make_gguf(args.out, source, outtype)


if __name__ == "__main__":
    main()
