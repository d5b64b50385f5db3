"""encode's performance options end to end: --profile / --profile-json, precision modes and
their fallback, optimize modes, the embedding cache switch."""
import json

import numpy as np

from conftest import MINILM, jsonl_input, require, run_cli, sts_sentences

PROFILE_KEYS = ["tokenization_ms", "tensor_conversion_ms", "model_inference_ms", "pooling_ms",
                "normalization_ms", "total_ms", "tokens_per_second", "memory_peak_mb",
                "gpu_utilization_percent"]


def encode(texts, *flags):
    result = run_cli("encode", "--model", MINILM, "--input-format", "jsonl", "--format", "jsonl",
                     *flags, input_bytes=jsonl_input(texts))
    rows = [json.loads(line) for line in result.stdout.decode().splitlines() if line.strip()]
    return np.array(rows, dtype=np.float32), result.stderr.decode()


def test_profile_json_has_the_documented_keys_and_adds_up(tmp_path):
    require(MINILM / "model.safetensors")
    texts = sts_sentences(120)
    out = tmp_path / "profile.json"
    _, stderr = encode(texts, "--profile", "--profile-json", out)
    profile = json.loads(out.read_text())
    for key in PROFILE_KEYS:
        assert key in profile, key
    assert profile["gpu_utilization_percent"] is None
    stages = sum(profile[k] for k in PROFILE_KEYS[:5])
    assert stages <= profile["total_ms"] * 1.001
    assert stages >= profile["total_ms"] * 0.8
    assert profile["texts"] == len(texts)
    assert profile["memory_peak_mb"] > 50
    assert profile["tokens_per_second"] > 0
    assert profile["precision"] == "fp32"
    assert set(profile["model_inference_ops_ms"]) == {
        "embeddings", "qkv", "attention", "attention_output", "ffn_up", "ffn_down"}
    assert "model_inference" in stderr and "memory peak" in stderr


def test_modes_and_cache_do_not_change_fp32_results():
    require(MINILM / "model.safetensors")
    texts = sts_sentences(60) + sts_sentences(20)  # repeats exercise the cache
    reference, _ = encode(texts)
    no_cache, _ = encode(texts, "--cache-mb", "0")
    assert np.array_equal(reference, no_cache)
    latency, _ = encode(texts, "--optimize", "latency", "--precision", "fp32")
    assert np.array_equal(reference, latency)
    throughput, _ = encode(texts, "--optimize", "throughput", "--precision", "fp32", "--profile")
    assert np.abs(throughput - reference).max() < 1e-5
    fast, _ = encode(texts, "--optimize", "throughput")
    cos = cosines(fast, reference)
    assert cos.mean() >= 0.995 and cos.min() >= 0.98, (cos.mean(), cos.min())


def cosines(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_int8_stays_close_to_fp32_and_reports_its_precision(tmp_path):
    require(MINILM / "model.safetensors")
    texts = sts_sentences(80)
    reference, _ = encode(texts)
    out = tmp_path / "profile.json"
    int8, _ = encode(texts, "--precision", "int8", "--profile-json", out)
    cos = cosines(int8, reference)
    assert cos.mean() >= 0.995 and cos.min() >= 0.98, (cos.mean(), cos.min())
    assert json.loads(out.read_text())["precision"] == "int8"
    info = run_cli("info", "--model", MINILM, "--optimize", "memory").stdout.decode()
    assert "compute dtype   int8" in info
    assert "cache           0 MiB" in info


def test_bf16_runs_or_falls_back_with_a_warning():
    require(MINILM / "model.safetensors")
    info = run_cli("info", "--model", MINILM, "--precision", "bf16").stdout.decode()
    if "compute dtype   bf16" in info:
        assert "warning" not in info
    else:
        assert "compute dtype   fp32" in info
        assert "warning" in info and "bf16" in info
        _, stderr = encode(["hello"], "--precision", "bf16")
        assert stderr.startswith("warning: ") and "bf16" in stderr


def test_bad_performance_options_are_usage_errors():
    require(MINILM / "model.safetensors")
    for flags in (["--precision", "fp8"], ["--optimize", "fast"], ["--max-batch-tokens", "0"]):
        result = run_cli("encode", "--model", MINILM, *flags, input_bytes=b"x\n", check=False)
        assert result.returncode == 2, (flags, result.stderr)
