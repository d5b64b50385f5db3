#!/usr/bin/env python3
"""Creates small random-weight sentence-transformers model folders for loader and parity tests.

    make_tiny_models.py OUT_DIR [--minilm-dir DIR] [--cased-tokenizer FILE]

Each variant is a BERT made with `transformers` (BertConfig + BertModel, seeded), saved as
model.safetensors with config.json, plus tokenizer files, modules.json, 1_Pooling/config.json,
sentence_bert_config.json, config_sentence_transformers.json and 2_Normalize/ when wanted. The
variants cover hidden sizes, heads, layers, activations, type_vocab_size 1 and 2, a position
table shorter than the tokenizer's limit, every pooling mode and a concatenation of several,
both pooling config formats, float16 and bfloat16 weights, and prompts.
"""

import argparse
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast
from transformers.utils import logging as transformers_logging

MINILM_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
LEGACY_POOLING_FLAGS = {  # sentence-transformers' legacy keys, in its concatenation order
    "cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens", "mean": "pooling_mode_mean_tokens",
    "mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens",
    "weightedmean": "pooling_mode_weightedmean_tokens", "lasttoken": "pooling_mode_lasttoken",
}


@dataclass
class Variant:
    name: str
    seed: int
    hidden: int = 32
    heads: int = 4
    layers: int = 2
    intermediate: int = 64
    activation: str = "gelu"
    type_vocab_size: int = 2
    max_position_embeddings: int = 512
    layer_norm_eps: float = 1e-12
    pooling: tuple = ("mean",)
    normalize: bool = True
    max_seq_length: int | None = 128  # None: sentence-transformers derives it from the model
    dtype: torch.dtype = torch.float32
    legacy_pooling_config: bool = True  # the format of most published models; False: ST 6 format
    include_prompt: bool = True
    prompts: dict = field(default_factory=dict)
    default_prompt_name: str | None = None
    cased_tokenizer: bool = False  # the small cased WordPiece instead of MiniLM's 30522 tokens


VARIANTS = [
    Variant("tiny-mean", seed=1),
    Variant("tiny-cls", seed=2, hidden=48, heads=3, layers=1, intermediate=96, activation="gelu_new",
            type_vocab_size=1, pooling=("cls",), normalize=False),
    Variant("tiny-max", seed=3, hidden=64, heads=8, layers=3, intermediate=128, activation="relu",
            pooling=("max",), max_position_embeddings=40, max_seq_length=None),
    Variant("tiny-mean-sqrt", seed=4, heads=2, intermediate=48, activation="silu",
            pooling=("mean_sqrt_len_tokens",), normalize=False, max_seq_length=24, layer_norm_eps=1e-5),
    Variant("tiny-weightedmean-fp16", seed=5, hidden=40, heads=5, intermediate=80,
            pooling=("weightedmean",), dtype=torch.float16, legacy_pooling_config=False),
    Variant("tiny-lasttoken-bf16", seed=6, pooling=("lasttoken",), dtype=torch.bfloat16, normalize=False,
            max_seq_length=64),
    Variant("tiny-concat", seed=7, pooling=("cls", "max", "mean", "mean_sqrt_len_tokens"), activation="gelu_new"),
    Variant("tiny-prompts", seed=8, prompts={"query": "query: ", "passage": "passage: "},
            default_prompt_name="query", legacy_pooling_config=False),
    Variant("tiny-prompts-excluded", seed=9, prompts={"query": "Represent this sentence for searching: "},
            default_prompt_name="query", include_prompt=False, legacy_pooling_config=False),
    Variant("tiny-cased-vocab", seed=10, hidden=24, heads=2, layers=2, intermediate=32, cased_tokenizer=True,
            type_vocab_size=1),
]


def log(message):
    print(f"make_tiny_models: {message}", file=sys.stderr)


def write_json(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n")


def write_tokenizer(variant, folder, minilm_dir, cased_tokenizer):
    if variant.cased_tokenizer:
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_file=str(cased_tokenizer), unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]",
            cls_token="[CLS]", mask_token="[MASK]", model_max_length=512)
        tokenizer.save_pretrained(str(folder))
        return tokenizer.backend_tokenizer.get_vocab_size()
    for name in MINILM_TOKENIZER_FILES:
        shutil.copyfile(minilm_dir / name, folder / name)
    return json.loads((minilm_dir / "config.json").read_text())["vocab_size"]


def pooling_config(variant, dimension):
    if variant.legacy_pooling_config:
        config = {"word_embedding_dimension": dimension}
        config.update({flag: mode in variant.pooling for mode, flag in LEGACY_POOLING_FLAGS.items()})
        config["include_prompt"] = variant.include_prompt
        return config
    mode = variant.pooling[0] if len(variant.pooling) == 1 else list(variant.pooling)
    return {"embedding_dimension": dimension, "pooling_mode": mode, "include_prompt": variant.include_prompt}


def randomize_norms_and_biases(model):
    # BERT initializes LayerNorm to (1, 0) and biases to 0, which would hide a loader that drops
    # or swaps them; spread them out so every tensor matters.
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "LayerNorm.weight" in name:
                parameter.normal_(mean=1.0, std=0.2)
            elif name.endswith(".bias"):
                parameter.normal_(mean=0.0, std=0.1)


def make_variant(variant, out_dir, minilm_dir, cased_tokenizer):
    folder = out_dir / variant.name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    vocab_size = write_tokenizer(variant, folder, minilm_dir, cased_tokenizer)

    torch.manual_seed(variant.seed)
    config = BertConfig(
        vocab_size=vocab_size, hidden_size=variant.hidden, num_attention_heads=variant.heads,
        num_hidden_layers=variant.layers, intermediate_size=variant.intermediate,
        hidden_act=variant.activation, type_vocab_size=variant.type_vocab_size,
        max_position_embeddings=variant.max_position_embeddings, layer_norm_eps=variant.layer_norm_eps,
        # Wider than BERT's 0.02 so random layers change the vectors noticeably.
        initializer_range=0.1, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertModel(config).eval()
    randomize_norms_and_biases(model)
    model = model.to(variant.dtype)
    model.save_pretrained(str(folder), safe_serialization=True)

    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if variant.normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
        (folder / "2_Normalize").mkdir()
    write_json(folder / "modules.json", modules)
    write_json(folder / "1_Pooling" / "config.json", pooling_config(variant, variant.hidden))
    bert_config = {"do_lower_case": False}
    if variant.max_seq_length is not None:
        bert_config = {"max_seq_length": variant.max_seq_length, **bert_config}
    write_json(folder / "sentence_bert_config.json", bert_config)
    st_config = {"__version__": {"sentence_transformers": "6.2.0", "transformers": "5.24.0",
                                 "pytorch": torch.__version__.split("+")[0]},
                 "prompts": variant.prompts, "default_prompt_name": variant.default_prompt_name,
                 "similarity_fn_name": "cosine"}
    write_json(folder / "config_sentence_transformers.json", st_config)
    log(f"wrote {folder} ({variant.layers}x{variant.hidden}, {variant.activation}, "
        f"pooling {'+'.join(variant.pooling)}, {str(variant.dtype).removeprefix('torch.')})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    home = Path(os.environ.get("EMBEDRT_HOME") or Path.home() / ".cache" / "embedrt")
    parser.add_argument("--minilm-dir", type=Path, default=home / "models" / "all-MiniLM-L6-v2")
    parser.add_argument("--cased-tokenizer", type=Path, default=None,
                        help="tokenizer.json for tiny-cased-vocab (default: OUT_DIR/../tokenizers/bert-cased)")
    args = parser.parse_args()
    transformers_logging.disable_progress_bar()
    cased = args.cased_tokenizer or args.out_dir.parent / "tokenizers" / "bert-cased" / "tokenizer.json"
    for needed in [args.minilm_dir / name for name in MINILM_TOKENIZER_FILES] + [cased]:
        if not needed.is_file():
            raise SystemExit(f"make_tiny_models: {needed} not found (run make_test_data.sh)")
    for variant in VARIANTS:
        make_variant(variant, args.out_dir, args.minilm_dir, cased)


if __name__ == "__main__":
    main()
