#!/usr/bin/env python3
"""Makes a random-weight sentence-transformers folder with a published model's shape, for timing
families whose weights are not on this machine (the shape, not the weights, sets the speed).

    .venv/bin/python bench/random_model.py --config bench/configs/modernbert-base.json \
        --out /tmp/modernbert-base-random --max-seq-length 1024

The config is a Hub config.json (bench/configs/); --dtype bfloat16 saves the checkpoint as most
decoder embedders are published; the tokenizer is the test byte-level BPE tokenizer
(test-data/tokenizers/bpe, made by scripts/make_test_data.sh), whose ids all fall inside the
model's vocabulary. Mean pooling and Normalize, as most embedding models.
"""
import argparse
import json
import tempfile
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules.normalize import Normalize
from sentence_transformers.base.modules.transformer import Transformer
from sentence_transformers.sentence_transformer.modules.pooling import Pooling
from transformers import AutoConfig, AutoModel, PreTrainedTokenizerFast

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-seq-length", type=int, default=512)
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32",
                        help="dtype the checkpoint is saved in")
    parser.add_argument("--tokenizer", type=Path, default=ROOT / "test-data/tokenizers/bpe/tokenizer.json")
    args = parser.parse_args()
    fields = {k: v for k, v in json.loads(args.config.read_text()).items() if not k.startswith("_")}
    model_type = fields.pop("model_type")
    torch.manual_seed(0)
    model = AutoModel.from_config(AutoConfig.for_model(model_type, **fields)).eval()
    model = model.to(getattr(torch, args.dtype))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(args.tokenizer), bos_token="<s>", eos_token="</s>", sep_token="</s>",
        cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
        model_max_length=args.max_seq_length)
    if tokenizer.backend_tokenizer.get_vocab_size() > model.config.vocab_size:
        raise SystemExit(f"random_model: {args.tokenizer} has more ids than {args.config}'s vocab_size")
    with tempfile.TemporaryDirectory() as hf_dir:
        model.save_pretrained(hf_dir, safe_serialization=True)
        tokenizer.save_pretrained(hf_dir)
        transformer = Transformer(hf_dir, max_seq_length=args.max_seq_length,
                                  model_kwargs={"dtype": getattr(torch, args.dtype)})
        modules = [transformer, Pooling(transformer.get_word_embedding_dimension(), "mean"), Normalize()]
        SentenceTransformer(modules=modules, device="cpu").save(str(args.out))
    print(f"random_model: wrote {args.out} ({type(model).__name__}, {args.dtype})")


if __name__ == "__main__":
    main()
