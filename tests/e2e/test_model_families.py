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

FAMILIES = ["tiny-xlm-roberta", "tiny-distilbert", "tiny-mpnet"]


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


@pytest.mark.parametrize("name", FAMILIES)
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


def test_unsupported_model_type_and_fields(tmp_path):
    model = copy_model(tmp_path, "tiny-xlm-roberta")
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "config.json: model_type: 'gpt2' is not supported",
                          "bert, distilbert, mpnet, roberta, xlm-roberta")
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
