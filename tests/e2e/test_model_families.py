"""The non-BERT families (tiny random models from scripts/make_family_models.py) through the CLI:
batch invariance, the bf16 and int8 gates against fp32 sentence-transformers, bad configs, and
loading from a Hugging Face cache layout. Parity itself is test_encode_cli's, over embeddings/."""
import io
import json
import os
import shutil

import numpy as np
import pytest

from conftest import TEST_DATA, assert_one_line_error, jsonl_input, read_jsonl, require, run_cli

FAMILIES = ["tiny-xlm-roberta", "tiny-distilbert", "tiny-modernbert-bias", "tiny-modernbert",
            "tiny-nomic-bert", "tiny-nomic-bert-geglu", "tiny-gte", "tiny-gte-hub", "tiny-gte-silu",
            "tiny-mpnet", "tiny-qwen3", "tiny-qwen3-untied", "tiny-gemma3"]
# One ModernBERT and one Qwen3 are enough here: batch invariance costs five runs.
BATCH_INVARIANCE = [name for name in FAMILIES if name not in ("tiny-modernbert-bias", "tiny-qwen3-untied")]


def model_dir(name):
    return require(TEST_DATA / "family-models" / name / "config.json").parent


def encode(model, texts, *args) -> np.ndarray:
    out = run_cli("encode", "--model", model, "--input-format", "jsonl", "--format", "npy",
                  "--output", "-", *args, input_bytes=jsonl_input(texts))
    return np.load(io.BytesIO(out.stdout))


def reference(name):
    fixture = require(TEST_DATA / "embeddings" / name / "embeddings.npy").parent
    texts = [r["text"] for r in read_jsonl(fixture / "texts.jsonl")]
    return texts, np.load(fixture / "embeddings.npy")


def cosines(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("name", BATCH_INVARIANCE)
def test_batch_invariance_bit_identical(name):
    model = model_dir(name)
    texts, _ = reference(name)
    texts = texts[:200]
    base = encode(model, texts, "--batch-size", "32", "--threads", "2")
    for args in (["--batch-size", "1"], ["--batch-size", "7"], ["--threads", "1"]):
        assert np.array_equal(encode(model, texts, *args), base), args
    order = np.random.default_rng(5).permutation(len(texts))
    assert np.array_equal(encode(model, [texts[i] for i in order]), base[order])


def runs_natively(precision):
    out = run_cli("info").stdout.decode()
    line = next(l for l in out.splitlines() if l.startswith("bf16 / int8"))
    bf16, int8 = line.split(None, 3)[3].split(" / ")
    return not (bf16 if precision == "bf16" else int8).startswith("falls back")


# The BERT gates (tests/api/test_precision.cpp): bf16 min cosine >= 0.999; int8 mean >= 0.995 and
# min >= 0.98, against the fp32 sentence-transformers reference.
@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("precision,min_cosine,mean_cosine",
                         [("bf16", 0.999, 0.999), ("int8", 0.98, 0.995)])
def test_precision_gates(name, precision, min_cosine, mean_cosine):
    if not runs_natively(precision):
        pytest.skip(f"this CPU runs {precision} as fp32")
    texts, want = reference(name)
    got = encode(model_dir(name), texts, "--precision", precision)
    cos = cosines(got, want)
    print(f"{name} {precision}: {len(texts)} texts, mean cosine {cos.mean():.6f}, "
          f"min {cos.min():.6f}")
    assert cos.min() >= min_cosine, f"text {int(cos.argmin())}"
    assert cos.mean() >= mean_cosine


def copy_model(tmp_path, name):
    target = tmp_path / name
    shutil.copytree(model_dir(name), target)
    return target


def test_config_contradicting_weights(tmp_path):
    model = copy_model(tmp_path, "tiny-distilbert")
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "n_layers": 3}))
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "model.safetensors", "missing (16)",
                          "transformer.layer.2.attention.q_lin.weight")
    (model / "config.json").write_text(json.dumps({**config, "dim": 64, "n_heads": 4}))
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "model.safetensors", "mis-shaped",
                          "embeddings.word_embeddings.weight [30522, 32] (expected [30522, 64])")

    model = copy_model(tmp_path, "tiny-xlm-roberta")
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "type_vocab_size": 2}))
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "model.safetensors",
                          "embeddings.token_type_embeddings.weight [1, 32] (expected [2, 32])")


def test_rotary_configs_contradicting_weights(tmp_path):
    model = copy_model(tmp_path, "tiny-nomic-bert-hub")
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "n_inner": 512}))
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "model.safetensors", "mis-shaped",
                          "encoder.layers.0.mlp.fc11.weight [256, 32] (expected [512, 32])")
    (model / "config.json").write_text(json.dumps({**config, "qkv_proj_bias": True}))
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "model.safetensors", "missing", "encoder.layers.0.attn.Wqkv.bias")

    model = copy_model(tmp_path, "tiny-gte-silu-hub")  # split q/k/v tensors
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "pack_qkv": True}))
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "model.safetensors", "encoder.layer.0.attention.qkv_proj.weight",
                          "unexpected", "encoder.layer.0.attention.q_proj.weight")
    (model / "config.json").write_text(json.dumps({**config, "type_vocab_size": 0}))
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "model.safetensors", "unexpected",
                          "embeddings.token_type_embeddings.weight")


def test_rotary_config_errors_name_the_field(tmp_path):
    model = copy_model(tmp_path, "tiny-nomic-bert-hub")  # head dimension 8
    config = json.loads((model / "config.json").read_text())
    cases = [({k: v for k, v in config.items() if k != "rotary_emb_fraction"},
              "config.json: rotary_emb_fraction: missing"),
             ({**config, "rotary_emb_fraction": 0.3},
              "config.json: rotary_emb_fraction: 0.3 of head dimension 8 gives 2.4 rotary dimensions"),
             ({**config, "rotary_emb_fraction": 0.375}, "config.json: rotary_emb_fraction: 0.375"),
             ({**config, "activation_function": "relu"}, "config.json: activation_function: 'relu'")]
    for broken, message in cases:
        (model / "config.json").write_text(json.dumps(broken))
        result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
        assert_one_line_error(result, message)
    # A quarter of each head (2 dimensions) rotates: it loads, and positions then matter less.
    (model / "config.json").write_text(json.dumps({**config, "rotary_emb_fraction": 0.25}))
    texts = ["a somewhat longer text so that positions matter"]
    assert not np.allclose(encode(model, texts), encode(model_dir("tiny-nomic-bert-hub"), texts))

    model = copy_model(tmp_path, "tiny-gte-hub")
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "rope_scaling": {"type": "ntk"}}))
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "config.json: rope_scaling.factor: missing")


def test_unsupported_model_type_and_fields(tmp_path):
    model = copy_model(tmp_path, "tiny-xlm-roberta")
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "config.json: model_type: 'gpt2' is not supported",
                          "bert, distilbert, gemma3_text, gte, modernbert, mpnet, new, nomic_bert, qwen3, "
                          "roberta, xlm-roberta")
    model = copy_model(tmp_path, "tiny-distilbert")
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "sinusoidal_pos_embds": True}))
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "config.json: sinusoidal_pos_embds")


def test_mpnet_relative_bias_config(tmp_path):
    model = copy_model(tmp_path, "tiny-mpnet")
    config = json.loads((model / "config.json").read_text())
    without = {k: v for k, v in config.items() if k != "relative_attention_num_buckets"}
    for broken, needle in ((without, "missing"), ({**config, "relative_attention_num_buckets": 0},
                                                   "expected a positive integer, found 0")):
        (model / "config.json").write_text(json.dumps(broken))
        result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
        assert_one_line_error(result, "config.json: relative_attention_num_buckets", needle)
    (model / "config.json").write_text(json.dumps({**config, "relative_attention_num_buckets": 16}))
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "config.json: relative_attention_num_buckets: 16 is not supported")
    # A BERT config over MPNet weights: the bias table is one of the tensors it does not expect.
    (model / "config.json").write_text(json.dumps({**config, "model_type": "bert",
                                                   "architectures": ["BertModel"]}))
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "model.safetensors", "encoder.relative_attention_bias.weight",
                          "relative_attention_num_buckets is 0")


def test_mpnet_position_limit():
    model = model_dir("tiny-mpnet")  # 130 position rows from 2: 128 tokens fit
    result = run_cli("encode", "-m", model, "--max-length", "129", input_bytes=b"x\n", check=False)
    assert_one_line_error(result, "129", "128")
    long_text = " ".join(["word"] * 400)
    assert encode(model, [long_text], "--max-length", "128").shape == (1, 32)


def test_xlm_roberta_position_limit():
    model = model_dir("tiny-xlm-roberta")  # 130 position rows from pad id 1 + 1: 128 tokens fit
    result = run_cli("encode", "-m", model, "--max-length", "129", input_bytes=b"x\n", check=False)
    assert_one_line_error(result, "129", "128")
    long_text = " ".join(["word"] * 400)
    assert encode(model, [long_text], "--max-length", "128").shape == (1, 32)


def edited_copy(tmp_path, name, **fields):
    """A copy of a family model whose config.json has `fields` set (None: removed)."""
    model = tmp_path / f"{name}-{len(list(tmp_path.iterdir()))}"
    shutil.copytree(model_dir(name), model)
    config = json.loads((model / "config.json").read_text())
    config.update(fields)
    config = {k: v for k, v in config.items() if v is not None}
    (model / "config.json").write_text(json.dumps(config))
    return model


def test_modernbert_config_contradicting_weights(tmp_path):
    def fails(model, *needles):
        result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
        assert_one_line_error(result, "model.safetensors", *needles)

    fails(edited_copy(tmp_path, "tiny-modernbert", norm_bias=True), "missing (7)",
          "embeddings.norm.bias")
    fails(edited_copy(tmp_path, "tiny-modernbert", attention_bias=True), "layers.0.attn.Wqkv.bias")
    fails(edited_copy(tmp_path, "tiny-modernbert-bias", mlp_bias=False), "unexpected (6)",
          "layers.0.mlp.Wi.bias")
    fails(edited_copy(tmp_path, "tiny-modernbert", intermediate_size=40), "mis-shaped",
          "layers.0.mlp.Wi.weight [160, 64] (expected [80, 64])")
    fails(edited_copy(tmp_path, "tiny-modernbert", num_hidden_layers=4), "missing",
          "layers.3.attn.Wqkv.weight")


def test_modernbert_bad_config(tmp_path):
    for fields, needles in [({"local_attention": 15}, ["config.json: local_attention: 15 is odd"]),
                            ({"local_attention": None}, ["config.json: local_attention: missing"]),
                            ({"hidden_activation": "mish"}, ["config.json: hidden_activation: 'mish'"]),
                            ({"local_rope_theta": -1}, ["config.json: local_rope_theta"]),
                            ({"rope_scaling": {"rope_type": "linear", "factor": 2.0}},
                             ["config.json: rope_scaling"])]:
        model = edited_copy(tmp_path, "tiny-modernbert", **fields)
        result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
        assert_one_line_error(result, *needles)


def test_modernbert_windows_and_local_rotary_base_matter(tmp_path):
    """The fixtures' parity would not catch a wrong window or local rotary base if they changed
    nothing: the same model with a window covering every text gives other vectors for the texts
    longer than the window (local_attention 16: 8 tokens each side) and the same for the others;
    with the global base on its local layers, other vectors for all."""
    from tokenizers import Tokenizer
    texts, want = reference("tiny-modernbert")
    tokenizer = Tokenizer.from_file(str(model_dir("tiny-modernbert") / "tokenizer.json"))
    lengths = [len(e.ids) for e in tokenizer.encode_batch(texts)]
    long = [i for i, n in enumerate(lengths) if n > 40][:20]
    short = [i for i, n in enumerate(lengths) if n <= 9][:5]
    assert len(long) == 20 and short
    picked = [texts[i] for i in long + short]
    # Each changed text moves by at least ten times the parity tolerance.
    got = encode(edited_copy(tmp_path, "tiny-modernbert", local_attention=2048), picked)
    assert np.abs(got[:20] - want[long]).max(axis=1).min() > 1e-3
    assert np.abs(got[20:] - want[short]).max() <= 1e-4
    got = encode(edited_copy(tmp_path, "tiny-modernbert", local_rope_theta=5000.0), picked)
    assert np.abs(got - want[long + short]).max(axis=1).min() > 1e-3


@pytest.mark.parametrize("name,prompt_name", [("tiny-qwen3", "query"), ("tiny-gemma3", "query")])
def test_decoder_tokenizer_ids_match_hf_tokenizers(name, prompt_name):
    """Byte-level BPE with the <|endoftext|> post-processor (Qwen) and BPE with byte fallback framed
    <bos> ... <eos> (Gemma): `embedrt tokenize` gives HF tokenizers' ids, with the query prompt in
    front too. (encode's --prompt-name itself is checked by the *-query parity fixtures.)"""
    from tokenizers import Tokenizer
    folder = model_dir(name)
    prompt = json.loads((folder / "config_sentence_transformers.json").read_text())["prompts"][prompt_name]
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    texts, _ = reference(name)
    for prefix in ("", prompt):
        out = run_cli("tokenize", "-m", folder, "--input-format", "jsonl",
                      input_bytes=jsonl_input([prefix + t for t in texts])).stdout.decode().splitlines()
        want = [e.ids for e in tokenizer.encode_batch([(prefix + t).strip() for t in texts])]
        got = [json.loads(line) for line in out]
        # max_seq_length 256 truncates the longest texts, keeping the final special token.
        for g, w in zip(got, want):
            assert g == (w if len(w) <= 256 else w[:255] + w[-1:])
    if name == "tiny-qwen3":
        assert all(ids[-1] == tokenizer.token_to_id("<|endoftext|>") for ids in got)


def test_decoder_config_errors(tmp_path):
    def fails(model, *needles):
        result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
        assert_one_line_error(result, *needles)

    fails(edited_copy(tmp_path, "tiny-qwen3", head_dim=None), "config.json: head_dim: missing")
    fails(edited_copy(tmp_path, "tiny-qwen3", num_key_value_heads=3),
          "config.json: num_key_value_heads: 3 does not divide num_attention_heads 4")
    fails(edited_copy(tmp_path, "tiny-gemma3", layer_types=["sliding_attention", "chunked_attention",
                                                            "full_attention"]),
          "config.json: layer_types: layer 1: \"chunked_attention\" is not supported")
    fails(edited_copy(tmp_path, "tiny-gemma3", sliding_window=None), "config.json: sliding_window: missing")
    # Config and weights that disagree: K/V projections for 4 heads where the file has 2.
    fails(edited_copy(tmp_path, "tiny-qwen3", num_key_value_heads=4), "model.safetensors", "mis-shaped",
          "layers.0.self_attn.k_proj.weight [32, 32] (expected [64, 32])")
    fails(edited_copy(tmp_path, "tiny-qwen3-untied", attention_bias=False), "model.safetensors", "unexpected",
          "model.layers.0.self_attn.q_proj.bias")


def test_gemma3_window_matters(tmp_path):
    """The parity fixtures would not catch a wrong window if it changed nothing: Gemma 3 with a window
    covering every text changes the texts longer than its window (sliding_window 16: 8 tokens each
    side) and no others. (The ~8,000-token fixtures, qwen3-long-8k and gemma3-long-8k, run in test_encode_cli's parity.)"""
    from tokenizers import Tokenizer
    texts, want = reference("tiny-gemma3")
    tokenizer = Tokenizer.from_file(str(model_dir("tiny-gemma3") / "tokenizer.json"))
    lengths = [len(e.ids) for e in tokenizer.encode_batch(texts)]
    long = [i for i, n in enumerate(lengths) if n > 40][:20]
    short = [i for i, n in enumerate(lengths) if n <= 9][:5]
    assert len(long) == 20 and short
    got = encode(edited_copy(tmp_path, "tiny-gemma3", sliding_window=4096), [texts[i] for i in long + short])
    assert np.abs(got[:20] - want[long]).max(axis=1).min() > 1e-3
    assert np.abs(got[20:] - want[short]).max() <= 1e-4


@pytest.mark.parametrize("name", ["tiny-qwen3", "tiny-qwen3-untied", "tiny-gemma3", "tiny-mpnet",
                                  "tiny-modernbert-bias", "tiny-gte"])
def test_parameter_count(name):
    """`embedrt info` counts the encoder's tensors (grouped K/V heads, q/k norms, Gemma's four norms,
    gated MLPs, biases only where the family has them) and the Dense modules exactly; the
    causal-LM save's lm_head and the ignored pooler and buffers are not part of the embedder."""
    from safetensors.numpy import load_file
    folder = model_dir(name)
    want = sum(tensor.size for path in folder.rglob("model.safetensors")
               for key, tensor in load_file(path).items()
               if key != "lm_head.weight" and not key.endswith("position_ids") and "pooler." not in key)
    info = run_cli("info", "-m", folder).stdout.decode()
    assert f"parameters      {want}" in info, info


def hf_cache_from(folder, cache, repo_id, commit):
    """Lays `folder` out as huggingface_hub does: blobs/ and a snapshot of relative symlinks."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True)
    for number, source in enumerate(sorted(p for p in folder.rglob("*") if p.is_file())):
        blob = repo / "blobs" / f"{number:040x}"
        shutil.copyfile(source, blob)
        link = snapshot / source.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, link.parent), link)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def test_hub_id_from_the_hugging_face_cache(tmp_path, monkeypatch):
    name = "tiny-xlm-roberta"
    texts = ["a short text", "ein kurzer Text", "一个短文本"]
    direct = encode(model_dir(name), texts)
    commit = "0123456789abcdef0123456789abcdef01234567"
    hf_cache_from(model_dir(name), tmp_path / "hub", "org/" + name, commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("EMBEDRT_HOME", str(tmp_path / "home"))
    for model in ("org/" + name, f"org/{name}@main", f"org/{name}@{commit}"):
        assert np.array_equal(encode(model, texts), direct), model
    result = run_cli("encode", "-m", f"org/{name}@v9", input_bytes=b"x\n", check=False)
    assert_one_line_error(result, f"org/{name}@v9: no such model", "refs/v9 (no such ref)")
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    assert np.array_equal(encode("org/" + name, texts), direct)
