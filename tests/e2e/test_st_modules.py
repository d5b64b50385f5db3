"""Module chains past Transformer + Pooling + Normalize (tiny random models from
scripts/make_module_models.py) through the CLI: Dense, LayerNorm, StaticEmbedding, the names
sentence-transformers wrote before 6, and one-line errors for what embedrt does not run."""
import io
import json
import shutil

import numpy as np
import pytest

from conftest import (TEST_DATA, ServerProcess, assert_one_line_error, jsonl_input, offline_embeddings,
                      read_jsonl, require, run_cli)

MODELS = ["tiny-dense", "tiny-layernorm", "tiny-static", "tiny-static-dense", "tiny-dense-old-names"]


def model_dir(name):
    return require(TEST_DATA / "module-models" / name / "modules.json").parent


def encode(model, texts, *args) -> np.ndarray:
    out = run_cli("encode", "--model", model, "--input-format", "jsonl", "--format", "npy",
                  "--output", "-", *args, input_bytes=jsonl_input(texts))
    return np.load(io.BytesIO(out.stdout))


def reference(name):
    fixture = require(TEST_DATA / "module-embeddings" / name / "embeddings.npy").parent
    texts = [r["text"] for r in read_jsonl(fixture / "texts.jsonl")]
    return texts, np.load(fixture / "embeddings.npy"), json.loads((fixture / "meta.json").read_text())


@pytest.mark.parametrize("name", MODELS)
def test_parity_with_sentence_transformers(name):
    texts, want, meta = reference(name)
    got = encode(model_dir(name), texts)
    assert got.shape == want.shape == (meta["count"], meta["dimension"])
    # A text without tokens (StaticEmbedding leaves out special tokens) is a zero vector.
    norms = np.linalg.norm(want, axis=1)
    nonzero = norms > 0
    cos = (got[nonzero] * want[nonzero]).sum(1) / (np.linalg.norm(got[nonzero], axis=1) * norms[nonzero])
    diff = np.abs(got - want).max()
    print(f"{name}: {len(texts)} texts, {' -> '.join(meta['modules'])}, min cosine {cos.min():.7f}, "
          f"max |diff| {diff:.2e}, {int((~nonzero).sum())} zero vectors")
    assert cos.min() >= 0.99999, f"text {int(np.flatnonzero(nonzero)[cos.argmin()])}"
    assert diff <= 1e-4
    assert np.array_equal(got[~nonzero], want[~nonzero])


@pytest.mark.parametrize("name", ["tiny-dense", "tiny-static"])
def test_batch_invariance_bit_identical(name):
    texts, _, _ = reference(name)
    texts = texts[:200]
    base = encode(model_dir(name), texts, "--batch-size", "32", "--threads", "2")
    for args in (["--batch-size", "1"], ["--batch-size", "7"], ["--threads", "1"]):
        assert np.array_equal(encode(model_dir(name), texts, *args), base), args


def test_info_describes_the_chain():
    out = run_cli("info", "--model", model_dir("tiny-dense")).stdout.decode()
    assert "dimension       24" in out
    assert "after pooling   Dense(32->48, tanh) -> Dense(48->24)" in out
    assert "normalize       yes" in out
    out = run_cli("info", "--model", model_dir("tiny-static-dense")).stdout.decode()
    assert "architecture    static-embedding" in out and "dimension       16" in out
    assert "after pooling   Dense(40->16, relu)" in out
    assert "max length      24 tokens" in out  # tokenizer.json's truncation


def test_static_embedding_tokenizes_without_special_tokens():
    # StaticEmbedding calls tokenizer.encode_batch(texts, add_special_tokens=False) on the text as
    # given (no strip), so `embedrt tokenize` on the model shows no <s> ... </s>.
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer
    model = model_dir("tiny-static")
    tokenizer = Tokenizer.from_file(str(model / "tokenizer.json"))
    texts = ["  Hello World  ", "Ünïcödé text\n", ""]
    out = run_cli("tokenize", "--model", model, "--input-format", "jsonl", input_bytes=jsonl_input(texts))
    got = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert got == [tokenizer.encode(text, add_special_tokens=False).ids for text in texts]
    # A text's vector is the normalized mean of its tokens' rows; no tokens give zeros.
    table = load_file(str(model / "model.safetensors"))["embedding.weight"]
    vectors = encode(model, texts)
    for text, vector in zip(texts, vectors):
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        if not ids:
            assert not vector.any()
            continue
        mean = table[ids].mean(0)
        np.testing.assert_allclose(vector, mean / np.linalg.norm(mean), atol=1e-6)
    # A prompt is prepended to the text before tokenizing, as StaticEmbedding.preprocess does.
    ids = tokenizer.encode("query: " + texts[0], add_special_tokens=False).ids
    mean = table[ids].mean(0)
    np.testing.assert_allclose(encode(model, texts[:1], "--prompt", "query: ")[0],
                               mean / np.linalg.norm(mean), atol=1e-6)


@pytest.mark.parametrize("name", ["tiny-dense", "tiny-static"])
def test_server_gives_the_cli_vectors(name):
    texts, _, meta = reference(name)
    texts = texts[:40]
    want = offline_embeddings(model_dir(name), texts)
    server = ServerProcess(model_dir(name), "--threads", "2", "--auto-truncate").wait_ready()
    try:
        status, _, body = server.post("/v1/embeddings", {"input": texts})
        assert status == 200, body
        got = np.asarray([item["embedding"] for item in body["data"]], dtype=np.float32)
        assert got.shape == (len(texts), meta["dimension"])
        np.testing.assert_array_equal(got, want)
    finally:
        server.terminate()


def copy_model(tmp_path, name):
    target = tmp_path / name
    shutil.copytree(model_dir(name), target)
    return target


def rewrite_json(path, change):
    value = json.loads(path.read_text())
    change(value)
    path.write_text(json.dumps(value))


def test_unknown_module_type(tmp_path):
    model = copy_model(tmp_path, "tiny-dense")
    rewrite_json(model / "modules.json",
                 lambda m: m[2].update(type="sentence_transformers.models.WeightedLayerPooling"))
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "modules.json: $[2].type",
                          "'sentence_transformers.models.WeightedLayerPooling' is not supported")
    # A class of another package is custom code, even when its name is Dense.
    rewrite_json(model / "modules.json", lambda m: m[2].update(type="my_package.layers.Dense"))
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "modules.json: $[2].type", "'my_package.layers.Dense' is not supported")
    rewrite_json(model / "modules.json", lambda m: m.insert(0, m.pop(1)))
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "modules.json: $[0].type", "cannot come first")


def test_bad_dense_configs(tmp_path):
    model = copy_model(tmp_path, "tiny-dense")
    config = model / "2_Dense" / "config.json"
    original = config.read_text()
    cases = [
        (lambda c: c.update(in_features=16), "2_Dense/config.json: $.in_features: 16 differs from the 32"),
        (lambda c: c.pop("out_features"), "2_Dense/config.json: $.out_features: missing"),
        (lambda c: c.update(bias="yes"), "2_Dense/config.json: $.bias: expected a boolean"),
        (lambda c: c.update(activation_function="torch.nn.modules.activation.Softmax"),
         "2_Dense/config.json: $.activation_function: 'torch.nn.modules.activation.Softmax' is not supported"),
        (lambda c: c.update(module_input_name="token_embeddings"),
         "2_Dense/config.json: $.module_input_name: 'token_embeddings' is not supported"),
        (lambda c: c.update(out_features=40), "2_Dense/model.safetensors: tensor linear.weight [48, 32] "
                                              "(expected [40, 32])"),
    ]
    for change, message in cases:
        config.write_text(original)
        rewrite_json(config, change)
        result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
        assert_one_line_error(result, message)
    config.write_text(original)
    (model / "2_Dense" / "model.safetensors").rename(model / "2_Dense" / "pytorch_model.bin")
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "2_Dense/pytorch_model.bin", "convert it to model.safetensors")
    (model / "2_Dense" / "pytorch_model.bin").unlink()
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "2_Dense/model.safetensors: no such file")


def test_bad_layer_norm_and_static_configs(tmp_path):
    model = copy_model(tmp_path, "tiny-layernorm")
    rewrite_json(model / "2_LayerNorm" / "config.json", lambda c: c.update(dimension=31))
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "2_LayerNorm/config.json: $.dimension: 31 differs from the 32")
    model = copy_model(tmp_path, "tiny-static")
    rewrite_json(model / "modules.json", lambda m: m.insert(1, {
        "idx": 1, "name": "1", "path": "1_Pooling",
        "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"}))
    result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
    assert_one_line_error(result, "modules.json: $[1].type", "after StaticEmbedding is not supported")
    result = run_cli("encode", "-m", model_dir("tiny-static"), "--pooling", "cls", input_bytes=b"hello\n",
                     check=False)
    assert_one_line_error(result, "StaticEmbedding model", "has no pooling")
