#!/usr/bin/env python3
"""Writes the encoder and pooling test fixtures to <out>/encoder/ (default: test-data/encoder).

Each encoder variant is a tiny random-weight BERT model folder (config.json + model.safetensors)
plus a packed batch (ids.npy, type_ids.npy, offsets.npy) and transformers' BertModel
last_hidden_state for it (last_hidden_state.npy, [total_tokens, hidden] float32), computed one
sequence at a time without padding. Variants cover the activations, the tensor-name prefixes
(plain BertModel, BertForMaskedLM's "bert.", sentence-transformers' "0.auto_model."), F16/BF16
storage and an int64 position_ids buffer. When test-data/models/all-MiniLM-L6-v2 exists, minilm/
holds the same kind of reference for that real model (the model itself is read from there).

The pooling fixture holds random token embeddings and the output of sentence-transformers'
Pooling module for each mode, for mode combinations and for include_prompt=False.
"""
import argparse
import json
import pathlib

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertForMaskedLM, BertModel

VARIANTS = {
    # name: (config overrides, storage dtype, prefix, save position_ids)
    "gelu_plain": (dict(hidden_act="gelu"), torch.float32, "", False),
    "gelu_new_masked_lm": (dict(hidden_act="gelu_new", hidden_size=24, num_attention_heads=3),
                           torch.float32, "bert.", False),
    "relu_st_f16": (dict(hidden_act="relu", intermediate_size=40), torch.float16, "0.auto_model.",
                    True),
    "silu_bf16": (dict(hidden_act="silu", num_hidden_layers=3, type_vocab_size=3), torch.bfloat16,
                  "", False),
}

BASE_CONFIG = dict(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                   intermediate_size=37, max_position_embeddings=40, type_vocab_size=2,
                   layer_norm_eps=1e-12, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)

SEQUENCE_LENGTHS = [5, 1, 17, 40, 2, 9]


def make_variant(out_dir: pathlib.Path, name: str, seed: int) -> None:
    overrides, dtype, prefix, with_position_ids = VARIANTS[name]
    torch.manual_seed(seed)
    config = BertConfig(**{**BASE_CONFIG, **overrides}, attn_implementation="eager")
    model = BertForMaskedLM(config) if prefix == "bert." else BertModel(config, add_pooling_layer=True)
    with torch.no_grad():
        for p in model.parameters():
            # Larger than the default init so that every layer matters, then rounded to the
            # storage dtype so the reference sees exactly the stored weights.
            p.copy_((torch.randn_like(p) * 0.3).to(dtype).to(torch.float32))
    model.eval()
    encoder = model.bert if prefix == "bert." else model

    folder = out_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    config_dict = json.loads(config.to_json_string())
    config_dict["architectures"] = ["BertForMaskedLM" if prefix == "bert." else "BertModel"]
    (folder / "config.json").write_text(json.dumps(config_dict, indent=2))

    if prefix == "bert.":
        state = model.state_dict()
    else:
        state = {prefix + k: v for k, v in encoder.state_dict().items()}
    tensors = {}
    for k, v in state.items():
        if k.endswith("position_ids"):
            continue
        tensors[k] = v.detach().to(dtype).contiguous().clone()
    if with_position_ids:
        tensors[prefix + "embeddings.position_ids"] = torch.arange(config.max_position_embeddings,
                                                                   dtype=torch.int64)[None]
    # Tied weights (MLM decoder) must not share storage in a safetensors file.
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})

    rng = np.random.default_rng(seed)
    ids, type_ids, offsets, hidden = [], [], [0], []
    for length in SEQUENCE_LENGTHS:
        seq = rng.integers(0, config.vocab_size, size=length)
        types = rng.integers(0, config.type_vocab_size, size=length)
        with torch.no_grad():
            out = encoder(input_ids=torch.tensor(seq)[None], token_type_ids=torch.tensor(types)[None],
                          attention_mask=torch.ones(1, length, dtype=torch.long))
        hidden.append(out.last_hidden_state[0].numpy())
        ids.extend(seq)
        type_ids.extend(types)
        offsets.append(offsets[-1] + length)
    np.save(folder / "ids.npy", np.array(ids, dtype=np.int32))
    np.save(folder / "type_ids.npy", np.array(type_ids, dtype=np.int32))
    np.save(folder / "offsets.npy", np.array(offsets, dtype=np.int32))
    np.save(folder / "last_hidden_state.npy", np.concatenate(hidden).astype(np.float32))


POOLING_CASES = {
    # name: (pooling_mode, include_prompt, prompt_length)
    "cls": ("cls", True, 0),
    "mean": ("mean", True, 0),
    "max": ("max", True, 0),
    "mean_sqrt_len_tokens": ("mean_sqrt_len_tokens", True, 0),
    "weightedmean": ("weightedmean", True, 0),
    "lasttoken": ("lasttoken", True, 0),
    "mean_max_cls": (("mean", "max", "cls"), True, 0),
    "legacy_all": (None, True, 0),
    "mean_no_prompt": ("mean", False, 2),
    "weightedmean_cls_no_prompt": (("weightedmean", "cls", "lasttoken", "max"), False, 1),
}


def make_pooling(out_dir: pathlib.Path) -> None:
    from sentence_transformers.sentence_transformer.modules.pooling import Pooling

    folder = out_dir / "pooling"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    hidden_size = 6
    for name, (mode, include_prompt, prompt_length) in POOLING_CASES.items():
        case_dir = folder / name
        (case_dir / "1_Pooling").mkdir(parents=True, exist_ok=True)
        # With a prompt every sequence keeps at least one token after it.
        lengths = [4, 1, 9, 3, 6] if prompt_length == 0 else [4, 5, 9, 3, 6]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        hidden = rng.normal(size=(offsets[-1], hidden_size)).astype(np.float32)
        np.save(case_dir / "hidden.npy", hidden)
        np.save(case_dir / "offsets.npy", offsets)
        max_len = max(lengths)
        padded = torch.zeros(len(lengths), max_len, hidden_size)
        mask = torch.zeros(len(lengths), max_len, dtype=torch.long)
        for s, length in enumerate(lengths):
            padded[s, :length] = torch.from_numpy(hidden[offsets[s]:offsets[s + 1]])
            mask[s, :length] = 1
        if mode is None:
            # The legacy boolean keys sentence-transformers 2.x wrote, all switched on.
            config = {"word_embedding_dimension": hidden_size, "pooling_mode_cls_token": True,
                      "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True,
                      "pooling_mode_mean_sqrt_len_tokens": True,
                      "pooling_mode_weightedmean_tokens": True, "pooling_mode_lasttoken": True,
                      "include_prompt": include_prompt}
        else:
            config = {"embedding_dimension": hidden_size,
                      "pooling_mode": mode if isinstance(mode, str) else list(mode),
                      "include_prompt": include_prompt}
        (case_dir / "1_Pooling" / "config.json").write_text(json.dumps(config, indent=2))
        module = Pooling.load(str(case_dir / "1_Pooling")) if hasattr(Pooling, "load") else None
        if module is None:
            raise RuntimeError("sentence-transformers Pooling.load is missing")
        features = {"token_embeddings": padded.clone(), "attention_mask": mask.clone()}
        if prompt_length:
            features["prompt_length"] = prompt_length
        with torch.no_grad():
            pooled = module(features)["sentence_embedding"].numpy().astype(np.float32)
        np.save(case_dir / "expected.npy", pooled)
        (case_dir / "prompt_length.txt").write_text(str(prompt_length))


def make_real_model_reference(out_dir: pathlib.Path, model_dir: pathlib.Path) -> None:
    """BertModel's last_hidden_state of a real checkpoint (all-MiniLM-L6-v2) for random ids."""
    model = BertModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    folder = out_dir / "minilm"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    ids, type_ids, offsets, hidden = [], [], [0], []
    for length in [7, 1, 128, 33, 2, 64]:
        # [CLS] ... [SEP] around random word-piece ids, as the tokenizer would produce.
        seq = np.concatenate([[101], rng.integers(1000, model.config.vocab_size, size=max(length - 2, 0)),
                              [102]])[:length]
        with torch.no_grad():
            out = model(input_ids=torch.tensor(seq)[None])
        hidden.append(out.last_hidden_state[0].numpy())
        ids.extend(seq)
        type_ids.extend([0] * length)
        offsets.append(offsets[-1] + length)
    np.save(folder / "ids.npy", np.array(ids, dtype=np.int32))
    np.save(folder / "type_ids.npy", np.array(type_ids, dtype=np.int32))
    np.save(folder / "offsets.npy", np.array(offsets, dtype=np.int32))
    np.save(folder / "last_hidden_state.npy", np.concatenate(hidden).astype(np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=pathlib.Path,
                        default=pathlib.Path(__file__).resolve().parent.parent / "test-data")
    args = parser.parse_args()
    out_dir = args.out / "encoder"
    for seed, name in enumerate(VARIANTS):
        make_variant(out_dir, name, seed + 1)
        print(f"wrote {out_dir / name}")
    make_pooling(out_dir)
    print(f"wrote {out_dir / 'pooling'}")
    # The real model, where make_test_data.sh has linked it.
    minilm = args.out / "models" / "all-MiniLM-L6-v2"
    if (minilm / "model.safetensors").exists():
        make_real_model_reference(out_dir, minilm)
        print(f"wrote {out_dir / 'minilm'}")


if __name__ == "__main__":
    main()
