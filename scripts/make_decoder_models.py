#!/usr/bin/env python3
"""Creates tiny random-weight sentence-transformers folders for the decoder families (Qwen3-Embedding,
EmbeddingGemma), with their tokenizers and reference embeddings.

    make_decoder_models.py --test-data DIR

Each tokenizer is trained here on the test corpus with HF tokenizers, each model made with
`transformers` (its own Config + Model classes, seeded, norms spread out) and saved by
sentence-transformers in the layout the published models have. Written to DIR/family-models/<name>;
reference embeddings of 512 corpus texts (stripped, as the byte-level families in
make_family_models.py) go to DIR/embeddings/<name>.

  tiny-qwen3          Qwen3Model over a byte-level BPE with Qwen2's split regex and NFC, whose
                      post-processor appends <|endoftext|> (as Qwen3-Embedding's); grouped-query
                      attention (4 query heads, 2 key/value heads), head_dim 16 where hidden /
                      heads is 8, tied embeddings, causal attention, last-token pooling, Normalize,
                      left padding, and Qwen3-Embedding's `prompts` (query instruction, empty
                      document prompt). tiny-qwen3-query: the same texts with prompt_name "query".
  tiny-qwen3-untied   Qwen3ForCausalLM with untied embeddings (lm_head.weight and the "model."
                      prefix in model.safetensors), 6 query heads over 2 key/value heads, head_dim
                      12, attention biases.
  tiny-gemma3         Gemma3TextModel with use_bidirectional_attention (EmbeddingGemma): sliding
                      (window 16, so 8 tokens each side) and full layers with their own rotary
                      bases, query_pre_attn_scalar unlike head_dim, 2 key/value heads; over a BPE
                      with byte fallback framed "<bos> $A <eos>"; mean pooling, Dense(32 -> 128) and
                      Dense(128 -> 32) without bias or activation, Normalize; EmbeddingGemma-style
                      prompts. tiny-gemma3-query: the texts with prompt_name "query".

  tiny-qwen3-bf16     tiny-qwen3 with model.safetensors stored in bfloat16 (each value rounded
                      once), as published Qwen3-Embedding checkpoints are; for the tests that a
                      16-bit checkpoint packs to the same bits as its fp32-widened values. No
                      reference embeddings.

The models take max_position_embeddings 8192; embeddings/qwen3-long-8k and gemma3-long-8k hold
three texts of about 8,000 tokens each for tiny-qwen3 and tiny-gemma3, with the reference made at
max_seq_length 8192 (encode them with --max-length 8192).
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
from safetensors.torch import load_file, save_file
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules.normalize import Normalize
from sentence_transformers.base.modules.transformer import Transformer
from sentence_transformers.base.modules.dense import Dense
from sentence_transformers.sentence_transformer.modules.pooling import Pooling
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers.trainers import BpeTrainer
from transformers import (Gemma3TextConfig, Gemma3TextModel, PreTrainedTokenizerFast, Qwen3Config,
                          Qwen3ForCausalLM, Qwen3Model)
from transformers.utils import logging as transformers_logging

from fixture_io import read_texts, write_jsonl
from make_embedding_fixtures import BATCH_SIZE, load, sample_texts, write_embeddings
from make_family_models import randomize_norms_and_biases

REPO_ROOT = Path(__file__).resolve().parent.parent
TEXT_COUNT = 512
MAX_SEQ_LENGTH = 256
LONG_TOKENS = 8192
QWEN_PROMPTS = {"query": "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:",
                "document": ""}
GEMMA_PROMPTS = {"query": "task: search result | query: ", "document": "title: none | text: ",
                 "STS": "task: sentence similarity | query: "}
# Qwen2's pre-tokenizer split (tokenizer.json of Qwen2/Qwen3).
QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
              r"\s*[\r\n]+|\s+(?!\S)|\s+")


def log(message):
    print(f"make_decoder_models: {message}", file=sys.stderr)


def training_lines(texts):
    return [line for text in texts for line in text.split("\n") if line.strip()]


def template(single, specials):
    return processors.TemplateProcessing(single=single, special_tokens=specials)


_trained = {}


def qwen_tokenizer(lines, hf_dir):
    path = hf_dir / "qwen-tokenizer.json"
    if "qwen" not in _trained:  # both Qwen3 models share one tokenizer, trained once
        _trained["qwen"] = train_qwen_tokenizer(lines)
    _trained["qwen"].save(str(path))
    return PreTrainedTokenizerFast(tokenizer_file=str(path), eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                   model_max_length=32768, padding_side="left")


def train_qwen_tokenizer(lines):
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    tokenizer.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = BpeTrainer(vocab_size=3000, min_frequency=2, special_tokens=specials, show_progress=False,
                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(lines, trainer)
    eos = tokenizer.token_to_id("<|endoftext|>")
    tokenizer.post_processor = template("$A:0 <|endoftext|>:0", [("<|endoftext|>", eos)])
    return tokenizer


def gemma_tokenizer(lines, hf_dir):
    # A BPE over "▁"-joined words whose rare characters fall back to <0xNN> byte tokens.
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Replace(" ", "\u2581")
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="never", split=True)
    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    trainer = BpeTrainer(vocab_size=2500, min_frequency=2, special_tokens=specials, limit_alphabet=150,
                         show_progress=False)
    tokenizer.train_from_iterator(lines, trainer)
    trained = json.loads(tokenizer.to_str())
    vocab = trained["model"]["vocab"]
    for byte in range(256):
        vocab.setdefault(f"<0x{byte:02X}>", len(vocab))
    trained["model"]["byte_fallback"] = True
    trained["model"]["fuse_unk"] = True
    tokenizer = Tokenizer.from_str(json.dumps(trained))
    tokenizer.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(),
                                           decoders.Fuse()])
    bos, eos = tokenizer.token_to_id("<bos>"), tokenizer.token_to_id("<eos>")
    tokenizer.post_processor = template("<bos>:0 $A:0 <eos>:0", [("<bos>", bos), ("<eos>", eos)])
    path = hf_dir / "gemma-tokenizer.json"
    tokenizer.save(str(path))
    return PreTrainedTokenizerFast(tokenizer_file=str(path), bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>", unk_token="<unk>", model_max_length=32768)


def qwen3_config(tokenizer, **fields):
    defaults = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, max_position_embeddings=LONG_TOKENS,
                    rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                    initializer_range=0.1)
    return Qwen3Config(vocab_size=tokenizer.backend_tokenizer.get_vocab_size(), pad_token_id=tokenizer.pad_token_id,
                       eos_token_id=tokenizer.eos_token_id, bos_token_id=None, **{**defaults, **fields})


def qwen3(lines, hf_dir):
    tokenizer = qwen_tokenizer(lines, hf_dir)
    config = qwen3_config(tokenizer, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                          tie_word_embeddings=True)
    return tokenizer, Qwen3Model(config)


def qwen3_untied(lines, hf_dir):
    tokenizer = qwen_tokenizer(lines, hf_dir)
    config = qwen3_config(tokenizer, hidden_size=48, num_attention_heads=6, num_key_value_heads=2, head_dim=12,
                          attention_bias=True, tie_word_embeddings=False,
                          rope_parameters={"rope_type": "default", "rope_theta": 500.0})
    return tokenizer, Qwen3ForCausalLM(config)


def gemma3(lines, hf_dir):
    tokenizer = gemma_tokenizer(lines, hf_dir)
    config = Gemma3TextConfig(
        vocab_size=tokenizer.backend_tokenizer.get_vocab_size(), hidden_size=32, intermediate_size=64,
        num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
        query_pre_attn_scalar=24, max_position_embeddings=LONG_TOKENS, rms_norm_eps=1e-6,
        sliding_window=16, layer_types=["sliding_attention", "full_attention", "sliding_attention"],
        rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1000000.0},
                         "sliding_attention": {"rope_type": "default", "rope_theta": 100.0}},
        use_bidirectional_attention=True, hidden_activation="gelu_pytorch_tanh", initializer_range=0.1,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id, tie_word_embeddings=True)
    return tokenizer, Gemma3TextModel(config)


def save_model(model, tokenizer, hf_dir):
    model = model.eval()
    randomize_norms_and_biases(model)
    with torch.no_grad():
        if isinstance(model, Gemma3TextModel):
            # Gemma's norms multiply by 1 + weight: centre the effective scale on 1, as trained
            # Gemma norms are, instead of on 2.
            for name, parameter in model.named_parameters():
                if name.endswith("norm.weight"):
                    parameter.sub_(1.0)
        # nn.Embedding zeroes the padding_idx row, which would make the pad token (Qwen's
        # <|endoftext|>, the last token of every text) an all-zero input; trained models' is not.
        model.get_input_embeddings().weight[tokenizer.pad_token_id].normal_(mean=0.0, std=0.1)
    model.save_pretrained(hf_dir, safe_serialization=True)
    tokenizer.save_pretrained(hf_dir)


def make_qwen3(name, seed, build, lines, test_data):
    folder = test_data / "family-models" / name
    if folder.exists():
        shutil.rmtree(folder)
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as hf_dir:
        tokenizer, model = build(lines, Path(hf_dir))
        save_model(model, tokenizer, hf_dir)
        transformer = Transformer(hf_dir, max_seq_length=MAX_SEQ_LENGTH)
        modules = [transformer, Pooling(transformer.get_word_embedding_dimension(), "lasttoken"), Normalize()]
        SentenceTransformer(modules=modules, prompts=QWEN_PROMPTS, device="cpu").save(str(folder))
        if isinstance(model, Qwen3ForCausalLM):
            # Keep the causal-LM checkpoint as saved ("model." prefix, lm_head), which
            # sentence-transformers loads as Qwen3Model.
            shutil.copy(Path(hf_dir) / "model.safetensors", folder / "model.safetensors")
            shutil.copy(Path(hf_dir) / "config.json", folder / "config.json")
    log(f"wrote {folder} ({type(model).__name__})")
    return folder


def make_gemma3(name, seed, lines, test_data):
    folder = test_data / "family-models" / name
    if folder.exists():
        shutil.rmtree(folder)
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as hf_dir:
        tokenizer, model = gemma3(lines, Path(hf_dir))
        save_model(model, tokenizer, hf_dir)
        transformer = Transformer(hf_dir, max_seq_length=MAX_SEQ_LENGTH)
        hidden = transformer.get_word_embedding_dimension()
        identity = torch.nn.Identity()
        modules = [transformer, Pooling(hidden, "mean"),
                   Dense(hidden, 4 * hidden, bias=False, activation_function=identity),
                   Dense(4 * hidden, hidden, bias=False, activation_function=identity), Normalize()]
        SentenceTransformer(modules=modules, prompts=GEMMA_PROMPTS, device="cpu").save(str(folder))
    log(f"wrote {folder} ({type(model).__name__})")
    return folder


def bf16_copy(folder, name):
    """A copy of `folder` whose model.safetensors holds the same tensors in bfloat16."""
    out = folder.parent / name
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(folder, out)
    weights = out / "model.safetensors"
    tensors = load_file(weights)
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in tensors.items()}, weights, metadata={"format": "pt"})
    log(f"wrote {out} (bfloat16 weights)")
    return out


def write_prompted(folder, name, texts, test_data, prompt_name):
    """Reference embeddings with sentence-transformers' encode(prompt_name=...)."""
    model = load(folder)
    # embedrt strips prompt + text as sentence-transformers 2-5 did (docs/architecture.md); 6 does
    # not. Texts for which that differs (an empty text after a prompt ending in a space) would
    # measure that choice, not the prompt, so they are left out.
    prompt = model.prompts[prompt_name]
    texts = [t for t in texts if (prompt + t).strip() == prompt + t]
    embeddings = model.encode(texts, prompt_name=prompt_name, batch_size=BATCH_SIZE, convert_to_numpy=True,
                              show_progress_bar=False)
    embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
    plain = model.encode(texts, batch_size=BATCH_SIZE, convert_to_numpy=True, show_progress_bar=False)
    assert np.abs(embeddings - plain).max() > 1e-3, "the prompt made no difference"
    out = test_data / "embeddings" / name
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "texts.jsonl", ({"text": text} for text in texts))
    np.save(out / "embeddings.npy", embeddings)
    meta = json.loads((test_data / "embeddings" / folder.name / "meta.json").read_text())
    meta["count"] = len(texts)
    meta["prompt_name"] = prompt_name
    meta["prompt"] = prompt
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    log(f"{name}: {embeddings.shape}, prompt_name {prompt_name}")


def long_texts(texts, folder, count=3):
    """`count` texts of about LONG_TOKENS - 64 tokens, joined from corpus texts."""
    tokenizer = load(folder).tokenizer
    out, pieces, length = [], [], 0
    for text in texts:
        if not text:
            continue
        pieces.append(text)
        length += len(tokenizer(text, add_special_tokens=False)["input_ids"]) + 1
        if length >= LONG_TOKENS - 64:
            joined = " ".join(pieces)
            ids = tokenizer(joined, add_special_tokens=False)["input_ids"][:LONG_TOKENS - 64]
            out.append(tokenizer.decode(ids).strip())
            pieces, length = [], 0
            if len(out) == count:
                break
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-data", type=Path,
                        default=Path(os.environ.get("EMBEDRT_TEST_DATA") or REPO_ROOT / "test-data"))
    args = parser.parse_args()
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    test_data = args.test_data.resolve()
    corpus_path = test_data / "corpus.jsonl"
    if not corpus_path.exists():
        raise SystemExit(f"make_decoder_models: {corpus_path} not found (run make_test_data.sh)")
    corpus = read_texts(corpus_path)
    lines = training_lines(corpus[:8000])
    texts = [t.strip() for t in sample_texts(corpus, TEXT_COUNT)]
    qwen = make_qwen3("tiny-qwen3", 31, qwen3, lines, test_data)
    untied = make_qwen3("tiny-qwen3-untied", 32, qwen3_untied, lines, test_data)
    gemma = make_gemma3("tiny-gemma3", 33, lines, test_data)
    bf16_copy(qwen, "tiny-qwen3-bf16")
    for folder in (qwen, untied, gemma):
        write_embeddings(folder, folder.name, texts, test_data)
    write_prompted(qwen, "tiny-qwen3-query", texts, test_data, "query")
    write_prompted(gemma, "tiny-gemma3-query", texts, test_data, "query")
    long = [t.strip() for t in corpus[len(corpus) // 2:]]
    # Named without "tiny": the scalar ISA run of the parity tests ("parity and tiny") would take
    # minutes over 8,000-token texts.
    for folder, name in ((qwen, "qwen3-long-8k"), (gemma, "gemma3-long-8k")):
        write_embeddings(folder, name, long_texts(long, folder), test_data, max_length=LONG_TOKENS)


if __name__ == "__main__":
    main()
