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
  tiny-modernbert-bias, tiny-modernbert
                    ModernBertModel over the test byte-level BPE tokenizer (its post-processor
                    made a TemplateProcessing "<s> $A </s>", as ModernBERT's "[CLS] $A [SEP]"),
                    3 layers with small sliding windows (local_attention 8 and 16) so most texts
                    are longer than a window, both layer kinds, different global and local rotary
                    bases. The first has every bias (norm, attention, MLP), GELU-tanh, mean
                    pooling; the second none, GELU, CLS pooling, texts up to 512 tokens, and its
                    config.json rewritten in the older form Hub checkpoints carry
                    (global_rope_theta, local_rope_theta, global_attn_every_n_layers instead of
                    rope_parameters and layer_types).
  tiny-nomic-bert   NomicBertModel (rotary, SwiGLU, no projection biases, 2 token types).
  tiny-nomic-bert-geglu  NomicBertModel with GeGLU, head size 16, 1 token type, CLS pooling.
  tiny-gte          GteModel (rotary theta 500,000, GeGLU with the fused [up; gate] projection,
                    no token types, as gte-base-en-v1.5).
  tiny-gte-silu     GteModel with SwiGLU, 6 heads, 2 token types, CLS pooling.

The rotary families also come in the config.json form their Hub checkpoints carry for remote
code (<name>-hub: nomic's GPT-2-named NomicBertConfig; Alibaba-NLP/new-impl's NewConfig,
model_type "new"). transformers 5 saves these models under the Hub checkpoint names already, so a
Hub copy is the same folder with config.json rewritten (tiny-gte-silu-hub: pack_qkv false, its
qkv_proj split into q_proj/k_proj/v_proj as new-impl names them) and the same reference
embeddings. tiny-gte-hub adds rope_scaling {"type": "ntk", "factor": 2.0} (gte-large-en-v1.5's),
which transformers 5 cannot express: its reference comes from tiny-gte with the rotary
frequencies of new-impl's NTKScalingRotaryEmbedding put into the model (base * factor, every
frequency divided by factor^(2 / dim)).
  tiny-mpnet        MPNetModel over MiniLM's WordPiece tokenizer: positions from 2 (a table
                    exactly max_seq_length + 2 long) and the relative position bias, spread wide
                    so that a wrong bucket shows; 128 tokens reach every one of its 32 buckets.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules.normalize import Normalize
from sentence_transformers.base.modules.transformer import Transformer
from sentence_transformers.sentence_transformer.modules.pooling import Pooling
from safetensors.torch import load_file, save_file
from transformers import (DistilBertConfig, DistilBertModel, GteConfig, GteModel, ModernBertConfig,
                          ModernBertModel, MPNetConfig, MPNetModel, NomicBertConfig, NomicBertModel,
                          PreTrainedTokenizerFast,
                          XLMRobertaConfig, XLMRobertaModel)
from transformers.utils import logging as transformers_logging

from fixture_io import read_texts
from make_embedding_fixtures import BATCH_SIZE, load, sample_texts, write_embeddings

REPO_ROOT = Path(__file__).resolve().parent.parent
TEXT_COUNT = 512
MAX_SEQ_LENGTH = 128


@dataclass
class Family:
    name: str
    seed: int
    pooling: str = "mean"
    normalize: bool = True
    max_seq_length: int = MAX_SEQ_LENGTH
    # Rewrites the saved config.json (a dict) before the reference embeddings are made.
    edit_config: object = None
    # Texts stripped before both engines see them. embedrt strips as sentence-transformers 2-5 did
    # (docs/architecture.md); sentence-transformers 6 does not, and a byte-level BPE keeps leading
    # and trailing whitespace as tokens, so unstripped edge cases would measure that choice, not
    # the encoder.
    strip_texts: bool = False
    hub: list = field(default_factory=list)  # HubCopy: the same model in its Hub config form


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


def minilm_tokenizer(test_data):
    minilm = test_data / "models" / "all-MiniLM-L6-v2"
    return PreTrainedTokenizerFast(
        tokenizer_file=str(minilm / "tokenizer.json"), unk_token="[UNK]", sep_token="[SEP]",
        pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]", model_max_length=512)


def distilbert(test_data, hf_dir):
    tokenizer = minilm_tokenizer(test_data)
    config = DistilBertConfig(
        vocab_size=tokenizer.backend_tokenizer.get_vocab_size(), dim=32, n_heads=4, n_layers=2,
        hidden_dim=48, activation="relu", max_position_embeddings=512, sinusoidal_pos_embds=False,
        pad_token_id=0, initializer_range=0.1, dropout=0.0, attention_dropout=0.0)
    return tokenizer, DistilBertModel(config)


def modernbert_tokenizer(test_data, hf_dir):
    # ModernBERT's tokenizer.json frames a text as "[CLS] $A [SEP]" with a TemplateProcessing.
    spec = json.loads((test_data / "tokenizers" / "bpe" / "tokenizer.json").read_text())
    spec["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                   {"SpecialToken": {"id": "</s>", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "</s>", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 0}},
                 {"SpecialToken": {"id": "</s>", "type_id": 0}}],
        "special_tokens": {name: {"id": name, "ids": [spec_id], "tokens": [name]}
                           for name, spec_id in (("<s>", 0), ("</s>", 2))}}
    path = hf_dir / "bpe-template.json"
    path.write_text(json.dumps(spec))
    return PreTrainedTokenizerFast(
        tokenizer_file=str(path), bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", model_max_length=512)


def modernbert_config(tokenizer, **fields):
    return ModernBertConfig(
        vocab_size=tokenizer.backend_tokenizer.get_vocab_size(), num_hidden_layers=3, max_position_embeddings=512,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, cls_token_id=0, sep_token_id=2, initializer_range=0.1,
        **fields)


def modernbert_bias(test_data, hf_dir):
    tokenizer = modernbert_tokenizer(test_data, hf_dir)
    config = modernbert_config(
        tokenizer, hidden_size=32, num_attention_heads=4, intermediate_size=48,
        hidden_activation="gelu_pytorch_tanh", norm_bias=True, attention_bias=True, mlp_bias=True,
        norm_eps=1e-6, local_attention=8, global_attn_every_n_layers=2,  # full, sliding, full
        global_rope_theta=160000.0, local_rope_theta=10000.0)
    return tokenizer, ModernBertModel(config)


def modernbert(test_data, hf_dir):
    tokenizer = modernbert_tokenizer(test_data, hf_dir)
    config = modernbert_config(
        tokenizer, hidden_size=64, num_attention_heads=4, intermediate_size=80, hidden_activation="gelu",
        local_attention=16, global_attn_every_n_layers=3,  # full, sliding, sliding
        global_rope_theta=5000.0, local_rope_theta=100.0)
    return tokenizer, ModernBertModel(config)


def modernbert_legacy_config(config):
    """The form of config.json that ModernBERT checkpoints on the Hub carry (transformers 4.x)."""
    every = config["global_attn_every_n_layers"]
    assert config.pop("layer_types") == ["sliding_attention" if i % every else "full_attention"
                                         for i in range(config["num_hidden_layers"])]
    rope = config.pop("rope_parameters")
    config["global_rope_theta"] = rope["full_attention"]["rope_theta"]
    config["local_rope_theta"] = rope["sliding_attention"]["rope_theta"]
    config["layer_norm_eps"] = 0.5  # unused by transformers (it reads norm_eps), as on the Hub
    return config


# The vocabulary padded to a multiple of 64 rows, as nomic-embed-text's 30528; the nomic Hub
# copies say vocab_size 30522 with pad_vocab_size_multiple 64.
NOMIC_VOCAB = 30528


def nomic_bert(hidden_act, hidden, heads, type_vocab_size, eps, theta):
    # Intermediate 256: nomic's remote gated MLP rounds n_inner up to a multiple of 256, so the
    # Hub copy describes the same shapes.
    def build(test_data, hf_dir):
        config = NomicBertConfig(
            vocab_size=NOMIC_VOCAB, hidden_size=hidden, num_attention_heads=heads,
            num_hidden_layers=2, intermediate_size=256, hidden_act=hidden_act,
            max_position_embeddings=2048, type_vocab_size=type_vocab_size, layer_norm_eps=eps,
            rope_parameters={"rope_type": "default", "rope_theta": theta}, pad_token_id=0,
            initializer_range=0.1)
        return minilm_tokenizer(test_data), NomicBertModel(config)
    return build


def gte(hidden_act, hidden, heads, intermediate, type_vocab_size, theta):
    def build(test_data, hf_dir):
        tokenizer = minilm_tokenizer(test_data)
        config = GteConfig(
            vocab_size=tokenizer.backend_tokenizer.get_vocab_size(), hidden_size=hidden,
            num_attention_heads=heads, num_hidden_layers=2, intermediate_size=intermediate,
            hidden_act=hidden_act, max_position_embeddings=8192, type_vocab_size=type_vocab_size,
            layer_norm_eps=1e-12, rope_parameters={"rope_type": "default", "rope_theta": theta},
            pad_token_id=0, hidden_dropout_prob=0.0, initializer_range=0.1)
        return tokenizer, GteModel(config)
    return build


def nomic_hub_config(config, folder):
    """nomic's remote-code config.json (a GPT2Config) for the same model."""
    activation = {"silu": "swiglu", "gelu": "geglu"}[config["hidden_act"]]
    remote = "nomic-ai/nomic-bert-2048--"
    return {
        "activation_function": activation, "architectures": ["NomicBertModel"],
        "attn_pdrop": 0.0,
        "auto_map": {"AutoConfig": remote + "configuration_hf_nomic_bert.NomicBertConfig",
                     "AutoModel": remote + "modeling_hf_nomic_bert.NomicBertModel",
                     "AutoModelForMaskedLM": remote + "modeling_hf_nomic_bert.NomicBertForPreTraining"},
        "bos_token_id": None, "causal": False, "dense_seq_output": True, "embd_pdrop": 0.0,
        "eos_token_id": None, "fused_bias_fc": True, "fused_dropout_add_ln": True,
        "initializer_range": 0.02, "layer_norm_epsilon": config["layer_norm_eps"],
        "max_trained_positions": 2048, "mlp_fc1_bias": False, "mlp_fc2_bias": False,
        "model_type": "nomic_bert", "n_embd": config["hidden_size"],
        "n_head": config["num_attention_heads"], "n_inner": config["intermediate_size"],
        "n_layer": config["num_hidden_layers"], "n_positions": config["max_position_embeddings"],
        "pad_vocab_size_multiple": 64, "parallel_block": False, "parallel_block_tied_norm": False,
        "prenorm": False, "qkv_proj_bias": False, "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.0, "rotary_emb_base": config["rope_parameters"]["rope_theta"],
        "rotary_emb_fraction": 1.0, "rotary_emb_interleaved": False, "rotary_emb_scale_base": None,
        "rotary_scaling_factor": None, "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True, "summary_activation": None, "summary_first_dropout": 0.0,
        "summary_proj_to_labels": True, "summary_type": "cls_index", "summary_use_proj": True,
        "torch_dtype": "float32", "transformers_version": "4.34.0",
        "type_vocab_size": config["type_vocab_size"], "use_cache": True, "use_flash_attn": True,
        "use_rms_norm": False, "use_xentropy": True, "vocab_size": 30522,
    }


def gte_hub_config(config, folder, pack_qkv=True, rope_scaling=None):
    """Alibaba-NLP/new-impl's config.json (NewConfig, model_type "new") for the same model."""
    remote = "Alibaba-NLP/new-impl--"
    hub = {
        "architectures": ["NewModel"],
        "auto_map": {"AutoConfig": remote + "configuration.NewConfig",
                     "AutoModel": remote + "modeling.NewModel",
                     "AutoModelForMaskedLM": remote + "modeling.NewForMaskedLM"},
        "attention_probs_dropout_prob": 0.0, "classifier_dropout": None,
        "hidden_act": config["hidden_act"], "hidden_dropout_prob": 0.1,
        "hidden_size": config["hidden_size"], "initializer_range": 0.02,
        "intermediate_size": config["intermediate_size"],
        "layer_norm_eps": config["layer_norm_eps"], "layer_norm_type": "layer_norm",
        "logn_attention_clip1": False, "logn_attention_scale": False,
        "max_position_embeddings": config["max_position_embeddings"], "model_type": "new",
        "num_attention_heads": config["num_attention_heads"],
        "num_hidden_layers": config["num_hidden_layers"], "pack_qkv": pack_qkv,
        "pad_token_id": 0, "position_embedding_type": "rope", "rope_scaling": rope_scaling,
        "rope_theta": config["rope_parameters"]["rope_theta"], "torch_dtype": "float32",
        "transformers_version": "4.39.1", "type_vocab_size": config["type_vocab_size"],
        "unpad_inputs": False, "use_memory_efficient_attention": False,
        "vocab_size": config["vocab_size"],
    }
    if not pack_qkv:  # new-impl's q_proj / k_proj / v_proj instead of qkv_proj
        tensors = load_file(folder / "model.safetensors")
        for name in [n for n in tensors if ".attention.qkv_proj." in n]:
            for part, chunk in zip("qkv", tensors.pop(name).chunk(3, dim=0)):
                tensors[name.replace("qkv_proj", f"{part}_proj")] = chunk.contiguous()
        save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    return hub


NTK = {"type": "ntk", "factor": 2.0}


def ntk_rotary(model, scaling):
    """Puts new-impl's NTKScalingRotaryEmbedding frequencies into every rotary module: its table
    is built for max_position_embeddings * factor positions at load, which takes the scaled
    branch (base * factor, then inv_freq / factor ** (2 / dim))."""
    factor = scaling["factor"]
    for module in model.modules():
        if type(module).__name__ == "GteRotaryEmbedding":
            config = module.config
            dim = config.hidden_size // config.num_attention_heads
            base = config.rope_parameters["rope_theta"] * factor
            inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))
            inv_freq = inv_freq / factor ** (2 / dim)
            module.inv_freq.copy_(inv_freq)
            module.original_inv_freq.copy_(inv_freq)


@dataclass
class HubCopy:
    name: str
    config: object  # (config dict, folder) -> Hub config.json dict; may rewrite the weights
    rotary: object = None  # the reference model's rotary change, if the Hub form differs


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
            (Family("tiny-modernbert-bias", seed=23, strip_texts=True), modernbert_bias),
            (Family("tiny-modernbert", seed=24, pooling="cls", normalize=False, max_seq_length=512,
                    edit_config=modernbert_legacy_config, strip_texts=True), modernbert),
            (Family("tiny-nomic-bert", seed=23, hub=[HubCopy("tiny-nomic-bert-hub", nomic_hub_config)]),
             nomic_bert("silu", 32, 4, 2, 1e-12, 1000.0)),
            (Family("tiny-nomic-bert-geglu", seed=24, pooling="cls",
                    hub=[HubCopy("tiny-nomic-bert-geglu-hub", nomic_hub_config)]),
             nomic_bert("gelu", 48, 3, 1, 1e-5, 10000.0)),
            (Family("tiny-gte", seed=25, hub=[HubCopy(
                "tiny-gte-hub", lambda c, f: gte_hub_config(c, f, rope_scaling=NTK),
                lambda model: ntk_rotary(model, NTK))]),
             gte("gelu", 32, 4, 64, 0, 500000.0)),
            (Family("tiny-gte-silu", seed=26, pooling="cls", hub=[HubCopy(
                "tiny-gte-silu-hub", lambda c, f: gte_hub_config(c, f, pack_qkv=False))]),
             gte("silu", 48, 6, 96, 2, 160000.0)),
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
        transformer = Transformer(hf_dir, max_seq_length=family.max_seq_length)
        modules = [transformer, Pooling(transformer.get_word_embedding_dimension(), family.pooling)]
        if family.normalize:
            modules.append(Normalize())
        SentenceTransformer(modules=modules, device="cpu").save(str(folder))
    if family.edit_config:
        config_path = folder / "config.json"
        config_path.write_text(json.dumps(family.edit_config(json.loads(config_path.read_text())), indent=2) + "\n")
    log(f"wrote {folder} ({type(model).__name__}, pooling {family.pooling})")
    return folder


def make_hub_copy(folder, hub, texts, test_data, embeddings=True):
    """The Hub config form of `folder`'s model, with the reference embeddings it must give."""
    target = folder.parent / hub.name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(folder, target)
    config = json.loads((folder / "config.json").read_text())
    (target / "config.json").write_text(json.dumps(hub.config(config, target), indent=2) + "\n")
    if not embeddings:
        log(f"wrote {target} (Hub config form of {folder.name})")
        return
    reference = test_data / "embeddings" / folder.name
    out = test_data / "embeddings" / hub.name
    if out.exists():
        shutil.rmtree(out)
    if hub.rotary is None:
        shutil.copytree(reference, out)
    else:
        model = load(folder)
        hub.rotary(model)
        embeddings = model.encode(texts, batch_size=BATCH_SIZE, convert_to_numpy=True,
                                  show_progress_bar=False).astype(np.float32)
        plain = np.load(reference / "embeddings.npy")
        assert np.abs(embeddings - plain).max() > 1e-3, "the rotary change made no difference"
        out.mkdir(parents=True)
        shutil.copy(reference / "texts.jsonl", out / "texts.jsonl")
        np.save(out / "embeddings.npy", np.ascontiguousarray(embeddings))
    meta = json.loads((reference / "meta.json").read_text())
    meta["model"] = str(target.relative_to(test_data))
    meta["reference"] = f"{folder.name} (same weights)" + (
        ", rotary frequencies as the Hub config's remote code computes them" if hub.rotary else "")
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    log(f"wrote {target} (Hub config form of {folder.name})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-data", type=Path,
                        default=Path(os.environ.get("EMBEDRT_TEST_DATA") or REPO_ROOT / "test-data"))
    # The model folders alone (tests/e2e/test_fixture_determinism.py compares only those).
    parser.add_argument("--no-embeddings", action="store_true",
                        help="write the model folders but not their reference embeddings")
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
        if not args.no_embeddings:
            write_embeddings(folder, family.name,
                             [t.strip() for t in texts] if family.strip_texts else texts, test_data)
        for hub in family.hub:
            make_hub_copy(folder, hub, texts, test_data, embeddings=not args.no_embeddings)


if __name__ == "__main__":
    main()
