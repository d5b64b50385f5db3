"""`embedrt encode` against sentence-transformers: parity, STS-B quality, determinism, formats and
bad input, driven through the CLI as a user would."""
import json
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest

from conftest import (CLI, MINILM, SHARED_DATA, TEST_DATA, assert_one_line_error, jsonl_input,
                      read_jsonl, require, run_cli)


def encode(model, texts, *args) -> np.ndarray:
    out = run_cli("encode", "--model", model, "--input-format", "jsonl", "--format", "npy",
                  "--output", "-", *args, input_bytes=jsonl_input(texts))
    import io
    return np.load(io.BytesIO(out.stdout))


def fixture_dirs():
    root = TEST_DATA / "embeddings"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


@pytest.mark.parametrize("name", fixture_dirs() or ["<none>"])
def test_parity_with_sentence_transformers(name):
    fixture = require(TEST_DATA / "embeddings" / name / "meta.json").parent
    meta = json.loads((fixture / "meta.json").read_text())
    texts = [r["text"] for r in read_jsonl(fixture / "texts.jsonl")]
    reference = np.load(fixture / "embeddings.npy")
    args = ["--max-length", str(meta["max_length"])] if meta.get("max_length") else []
    if meta.get("prompt_name"):
        args += ["--prompt-name", meta["prompt_name"]]
    elif meta.get("prompt"):
        args += ["--prompt", meta["prompt"]]
    got = encode(TEST_DATA / meta["model"], texts, *args)
    assert got.shape == reference.shape
    cos = (got * reference).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(reference, axis=1))
    max_abs = float(np.abs(got - reference).max())
    print(f"{name}: {len(texts)} texts, min cosine {cos.min():.8f}, max |diff| {max_abs:.3g}")
    assert cos.min() >= 0.99999, f"min cosine {cos.min()} at text {int(cos.argmin())}"
    assert max_abs <= 1e-4


def read_sts_dev():
    path = require(SHARED_DATA / "stsbenchmark" / "sts-dev.csv")
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 7:
                pairs.append((float(cols[4]), cols[5], cols[6]))
    return pairs


def test_sts_benchmark_dev_spearman():
    from scipy.stats import spearmanr
    reference = json.loads(require(TEST_DATA / "sts" / "minilm.json").read_text())
    pairs = read_sts_dev()
    assert len(pairs) == reference["pairs"]
    a = encode(require(MINILM), [p[1] for p in pairs])
    b = encode(MINILM, [p[2] for p in pairs])
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    spearman = spearmanr(cosine, [p[0] for p in pairs]).statistic
    print(f"STS-B dev Spearman: embedrt {spearman:.6f}, sentence-transformers "
          f"{reference['spearman']:.6f}")
    assert abs(spearman - reference["spearman"]) <= 0.001


def corpus_sample(n=300):
    texts = [r["text"] for r in read_jsonl(require(TEST_DATA / "corpus.jsonl"))]
    rng = np.random.default_rng(7)
    return [texts[i] for i in rng.choice(len(texts), n, replace=False)]


def test_batch_invariance_bit_identical():
    texts = corpus_sample()
    base = encode(require(MINILM), texts, "--batch-size", "32", "--threads", "2")
    for args in (["--batch-size", "1"], ["--batch-size", "7"], ["--batch-size", "300"],
                 ["--threads", "1"]):
        assert np.array_equal(encode(MINILM, texts, *args), base), args
    order = np.random.default_rng(3).permutation(len(texts))
    shuffled = encode(MINILM, [texts[i] for i in order])
    assert np.array_equal(shuffled, base[order])


def test_output_formats_agree(tmp_path):
    texts = ["A man is playing a guitar.", "", "naïve café ☕", "x" * 3000]
    as_npy = encode(require(MINILM), texts)
    data = "\n".join(texts).encode()
    jsonl = run_cli("encode", "-m", MINILM, "--format", "jsonl", input_bytes=data).stdout
    rows = [json.loads(line) for line in jsonl.decode().splitlines()]
    assert np.array_equal(np.array(rows, dtype=np.float32), as_npy)  # shortest round-trip floats
    tsv = run_cli("encode", "-m", MINILM, "--format", "tsv", input_bytes=data).stdout
    rows = [[float(x) for x in line.split("\t")] for line in tsv.decode().splitlines()]
    assert np.array_equal(np.array(rows, dtype=np.float32), as_npy)
    out = tmp_path / "v.npy"
    run_cli("encode", "-m", MINILM, "--format", "npy", "--output", out, input_bytes=data)
    assert np.array_equal(np.load(out), as_npy)
    empty = tmp_path / "empty.npy"
    run_cli("encode", "-m", MINILM, "--format", "npy", "--output", empty, input_bytes=b"")
    assert np.load(empty).shape == (0, 384)


def test_overflow_policy(tmp_path):
    texts = ["short one", "word " * 400, "another"]
    truncated = encode(require(MINILM), texts)
    direct = encode(MINILM, ["short one", " ".join(["word"] * 254), "another"])
    assert np.array_equal(truncated, direct)  # 254 words + [CLS] + [SEP] = 256 tokens
    out = tmp_path / "o.jsonl"
    result = run_cli("encode", "-m", MINILM, "--on-overflow", "error", "--output", out,
                     input_bytes="\n".join(texts).encode(), check=False)
    assert_one_line_error(result, "text 1 ", "402 tokens", "256")
    assert not out.exists()  # nothing half-written


def test_pooling_and_normalize_overrides():
    texts = ["A man is playing a guitar.", "The cat sleeps."]
    raw = encode(require(MINILM), texts, "--no-normalize")
    normalized = encode(MINILM, texts)
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), normalized,
                               atol=1e-6)
    cls = encode(MINILM, texts, "--pooling", "cls", "--no-normalize")
    assert not np.allclose(cls, raw)


def test_invalid_utf8_warns():
    out = run_cli("encode", "-m", require(MINILM), input_bytes=b"caf\xc3 ok\n")
    assert b"warning: replaced 1 invalid UTF-8 sequence(s)" in out.stderr


def copy_model(tmp_path):
    target = tmp_path / "model"
    shutil.copytree(require(MINILM), target)
    return target


def safetensors_parts(path):
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length]), raw[8 + length:]


def write_safetensors(path, header, data):
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)


def test_bad_model_files(tmp_path):
    model = copy_model(tmp_path)
    weights = model / "model.safetensors"
    header, data = safetensors_parts(weights)
    name = "embeddings.word_embeddings.weight"

    def fails(*needles):
        result = run_cli("encode", "-m", model, input_bytes=b"hello\n", check=False)
        assert_one_line_error(result, *needles)

    weights.write_bytes(weights.read_bytes()[:1000])  # truncated
    fails("model.safetensors")
    weights.write_bytes(struct.pack("<Q", 10**9) + b"{}")  # header length beyond the file
    fails("model.safetensors")
    weights.write_bytes(struct.pack("<Q", 5) + b"{abc}")  # invalid JSON header
    fails("model.safetensors")
    overlapping = json.loads(json.dumps(header))
    other = next(k for k in overlapping if k not in ("__metadata__", name))
    overlapping[other]["data_offsets"] = overlapping[name]["data_offsets"]
    overlapping[other]["shape"] = overlapping[name]["shape"]
    overlapping[other]["dtype"] = overlapping[name]["dtype"]
    write_safetensors(weights, overlapping, data)
    fails("model.safetensors")
    bad_dtype = json.loads(json.dumps(header))
    bad_dtype[name]["dtype"] = "F8_E4M3"
    write_safetensors(weights, bad_dtype, data)
    fails("model.safetensors", name)
    shutil.copy(MINILM / "model.safetensors", weights)

    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "hidden_size": 512}))
    fails("hidden_size")
    (model / "config.json").write_text(json.dumps({**config, "model_type": "gpt2",
                                                   "architectures": ["GPT2Model"]}))
    fails("config.json")
    (model / "config.json").write_text("{not json")
    fails("config.json")
    (model / "config.json").unlink()
    fails("config.json")
    shutil.copy(MINILM / "config.json", model / "config.json")
    weights.unlink()
    fails("model.safetensors")


def test_missing_model_folder(tmp_path):
    result = run_cli("encode", "-m", tmp_path / "absent", input_bytes=b"x", check=False)
    assert_one_line_error(result, "absent")
    result = run_cli("encode", "-m", "no-such-model-name", input_bytes=b"x", check=False)
    assert_one_line_error(result, "no-such-model-name")


def test_info():
    out = run_cli("info", "-m", require(MINILM)).stdout.decode()
    for needle in ("architecture    bert", "dimension       384", "layers          6",
                   "max length      256 tokens", "pooling         mean", "normalize       yes",
                   "parameters      22565376", "weights dtype   F32", "isa             ",
                   "matmul          "):
        assert needle in out, out


def test_info_without_a_model_names_the_cpu_paths():
    out = run_cli("info").stdout.decode()
    assert out.startswith("version         "), out
    isa_line = next(line for line in out.splitlines() if line.startswith("isa "))
    assert "(CPU: " in isa_line and "oneDNN: " in isa_line, out
    bad = subprocess.run([CLI, "info"], capture_output=True, timeout=60,
                         env={**os.environ, "EMBEDRT_ISA": "avx9000"})
    assert bad.returncode == 1 and bad.stderr.startswith(b"error: EMBEDRT_ISA"), bad.stderr


def test_default_prompt_applies_without_flags():
    model = require(TEST_DATA / "tiny-models" / "tiny-prompts")
    texts = ["a short text", "another one"]
    default = encode(model, texts)
    assert np.array_equal(default, encode(model, texts, "--prompt-name", "query"))
    assert np.array_equal(default, encode(model, texts, "--prompt", "query: "))
    assert not np.array_equal(default, encode(model, texts, "--prompt-name", "passage"))
    result = run_cli("encode", "-m", model, "--prompt-name", "nope", input_bytes=b"x", check=False)
    assert_one_line_error(result, "'nope'", "query")


def test_no_deterministic_stays_within_rounding():
    texts = corpus_sample(64)
    exact = encode(require(MINILM), texts, "--batch-size", "64")
    fast = encode(MINILM, texts, "--batch-size", "64", "--no-deterministic")
    cos = (exact * fast).sum(1) / (np.linalg.norm(exact, axis=1) * np.linalg.norm(fast, axis=1))
    assert cos.min() >= 0.99999
    assert float(np.abs(exact - fast).max()) <= 1e-4


def test_progress_bar_reports_and_changes_nothing(tmp_path):
    texts = corpus_sample(600)
    data = "\n".join(t.replace("\n", " ") for t in texts).encode()
    plain, shown = tmp_path / "plain.npy", tmp_path / "shown.npy"
    run_cli("encode", "-m", require(MINILM), "-f", "npy", "-o", plain, input_bytes=data)
    result = run_cli("encode", "-m", MINILM, "-f", "npy", "-o", shown, "--progress",
                     input_bytes=data)
    assert b"texts/s" in result.stderr and b"600 texts" in result.stderr
    assert plain.read_bytes() == shown.read_bytes()
