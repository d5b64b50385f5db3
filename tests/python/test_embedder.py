"""embedrt.Embedder against sentence-transformers (the reference fixtures it produced), the CLI,
and bad input."""
import io
import json
import subprocess

import numpy as np
import pytest

import embedrt
from conftest import (CLI, MINILM, TEST_DATA, TINY_PROMPTS, corpus_texts, cosines, read_jsonl,
                      require)


def fixture_dirs():
    root = TEST_DATA / "embeddings"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


@pytest.mark.parametrize("name", fixture_dirs() or ["<none>"])
def test_parity_with_sentence_transformers(name):
    fixture = require(TEST_DATA / "embeddings" / name / "meta.json").parent
    meta = json.loads((fixture / "meta.json").read_text())
    texts = [r["text"] for r in read_jsonl(fixture / "texts.jsonl")]
    reference = np.load(fixture / "embeddings.npy")
    model = embedrt.Embedder(str(TEST_DATA / meta["model"]),
                             max_seq_length=meta.get("max_length"))
    got = model.encode(texts, prompt_name=meta.get("prompt_name"))
    assert got.dtype == np.float32 and got.flags["C_CONTIGUOUS"]
    assert got.shape == reference.shape
    cos = cosines(got, reference)
    max_abs = float(np.abs(got - reference).max())
    print(f"{name}: {len(texts)} texts, min cosine {cos.min():.8f}, max |diff| {max_abs:.3g}")
    assert cos.min() >= 0.99999, f"min cosine {cos.min()} at text {int(cos.argmin())}"
    assert max_abs <= 1e-4


def test_parity_minilm_has_enough_texts():
    texts = read_jsonl(require(TEST_DATA / "embeddings" / "all-MiniLM-L6-v2" / "texts.jsonl"))
    assert len(texts) >= 500


def cli_encode(model, texts, *args):
    data = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts).encode()
    out = subprocess.run([CLI, "encode", "--model", str(model), "--input-format", "jsonl",
                          "--format", "npy", "--output", "-", *args], input=data,
                         capture_output=True, check=True)
    return np.load(io.BytesIO(out.stdout))


def test_same_vectors_as_the_cli(minilm):
    texts = corpus_texts(100)
    assert np.array_equal(minilm.encode(texts), cli_encode(MINILM, texts))


def test_single_string_and_empty_list(minilm):
    texts = ["A man is eating food.", "A cat sleeps."]
    both = minilm.encode(texts)
    one = minilm.encode(texts[0])
    assert one.shape == (384,) and one.dtype == np.float32
    assert np.array_equal(one, both[0])
    empty = minilm.encode([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32
    assert minilm.encode(()).shape == (0, 384)


def test_sequences_other_than_lists(minilm):
    texts = ["first text", "second text"]
    expected = minilm.encode(texts)
    assert np.array_equal(minilm.encode(tuple(texts)), expected)
    assert np.array_equal(minilm.encode(np.array(texts)), expected)  # numpy str_ elements


def test_batch_size_does_not_change_vectors(minilm):
    texts = corpus_texts(100, seed=3)
    base = minilm.encode(texts, batch_size=32)
    for batch_size in (1, 7, 500):
        assert np.array_equal(minilm.encode(texts, batch_size=batch_size), base)


def test_lone_surrogate_is_a_clear_error(minilm):
    with pytest.raises(embedrt.InvalidArgumentError) as info:
        minilm.encode(["fine", "bad \ud800 text"])
    message = str(info.value)
    assert "sentences[1]" in message and "surrogates not allowed" in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, embedrt.Error)
    with pytest.raises(embedrt.InvalidArgumentError, match=r"sentences\[0\]"):
        minilm.encode("\udcff")


@pytest.mark.parametrize("sentences, needle", [
    (1, "not int"), (None, "not NoneType"), (b"bytes", "not bytes"), ({"a": 1}, "not dict"),
    ([1], r"sentences\[0\] is int"), (["a", None], r"sentences\[1\] is NoneType"),
    (["a", b"b"], r"sentences\[1\] is bytes"),
])
def test_wrong_types_raise_type_error(minilm, sentences, needle):
    with pytest.raises(TypeError, match=needle):
        minilm.encode(sentences)


def test_wrong_option_types_and_values(minilm):
    with pytest.raises(TypeError, match="batch_size"):
        minilm.encode(["x"], batch_size="32")
    with pytest.raises(embedrt.InvalidArgumentError, match="batch_size"):
        minilm.encode(["x"], batch_size=0)
    with pytest.raises(TypeError, match="normalize_embeddings"):
        minilm.encode(["x"], normalize_embeddings="yes")
    with pytest.raises(TypeError, match="prompt"):
        minilm.encode(["x"], prompt=3)
    with pytest.raises(TypeError, match="tokenize|texts"):
        minilm.tokenize(5)


def test_model_errors_carry_the_library_message(tmp_path):
    with pytest.raises(embedrt.EmbedrtIOError, match="no-such-model") as info:
        embedrt.Embedder("no-such-model")
    assert isinstance(info.value, OSError)
    with pytest.raises(embedrt.InvalidArgumentError, match="'fp64'"):
        embedrt.Embedder(str(require(MINILM)), precision="fp64")
    with pytest.raises(embedrt.InvalidArgumentError, match="'fastest'"):
        embedrt.Embedder(str(MINILM), optimize="fastest")
    with pytest.raises(TypeError):
        embedrt.Embedder(42)
    broken = tmp_path / "model"
    broken.mkdir()
    for f in MINILM.iterdir():
        if f.is_file():
            (broken / f.name).write_bytes(f.read_bytes())
    (broken / "config.json").write_text("{not json")
    with pytest.raises(embedrt.InvalidModelError, match="config.json"):
        embedrt.Embedder(str(broken))


def test_overflow_error_names_the_text():
    model = embedrt.Embedder(str(require(MINILM)), on_overflow="error")
    with pytest.raises(embedrt.InputTooLongError, match="text 1 "):
        model.encode(["short", "word " * 400])


def test_prompt_names_match_sentence_transformers():
    fixture = require(TEST_DATA / "embeddings" / "tiny-prompts" / "meta.json").parent
    meta = json.loads((fixture / "meta.json").read_text())
    texts = [r["text"] for r in read_jsonl(fixture / "texts.jsonl")]
    reference = np.load(fixture / "embeddings.npy")
    model = embedrt.Embedder(str(require(TINY_PROMPTS)))
    by_name = model.encode(texts, prompt_name=meta["prompt_name"])
    assert cosines(by_name, reference).min() >= 0.99999
    assert np.array_equal(model.encode(texts, prompt=meta["prompt"]), by_name)
    with pytest.warns(UserWarning, match="prompt_name is ignored"):
        assert np.array_equal(model.encode(texts[:3], prompt=meta["prompt"], prompt_name="nope"),
                              by_name[:3])
    assert not np.allclose(model.encode(texts[:3], prompt="passage: "), by_name[:3])
    with pytest.raises(embedrt.InvalidArgumentError, match="'nope'.*query"):
        model.encode(texts[:1], prompt_name="nope")


def test_normalize_override(minilm):
    texts = ["A man is playing a guitar.", "The cat sleeps."]
    raw = minilm.encode(texts, normalize_embeddings=False)
    normalized = minilm.encode(texts)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), normalized,
                               atol=1e-6)


def test_tokenize_matches_sentence_transformers(minilm):
    from sentence_transformers import SentenceTransformer
    texts = corpus_texts(40, seed=11) + ["  Hello, World!  ", ""]
    reference = SentenceTransformer(str(MINILM), device="cpu").tokenize(texts)
    got = minilm.tokenize(texts)
    mask = reference["attention_mask"].numpy()
    assert np.array_equal(got["attention_mask"], mask)
    assert np.array_equal(got["input_ids"] * mask, reference["input_ids"].numpy() * mask)
    assert np.array_equal(got["token_type_ids"], reference["token_type_ids"].numpy())
    assert got["input_ids"].dtype == np.int64


def test_properties_info_profile_and_version(minilm):
    assert minilm.dimension == 384 == minilm.get_sentence_embedding_dimension()
    assert minilm.max_seq_length == 256
    info = minilm.info()
    assert info["dimension"] == 384 and info["architecture"] == "bert"
    assert info["pooling"] == "mean" and info["normalize"] is True
    assert info["precision"] == "fp32" and info["version"] == embedrt.__version__
    texts = corpus_texts(20)
    minilm.encode(texts, profile=True)
    profile = minilm.profile
    assert profile["texts"] == 20 and profile["tokens"] > 20 and profile["total_ms"] > 0
    assert profile["model_inference_ms"] > 0
    cli = subprocess.run([CLI, "--version"], capture_output=True, text=True, check=True)
    assert cli.stdout.strip() == f"embedrt {embedrt.__version__}"


def test_progress_bar_gives_the_same_vectors(minilm, capsys):
    texts = corpus_texts(520, seed=5)  # more than one progress step of 512 texts
    quiet = minilm.encode(texts)
    with_bar = minilm.encode(texts, show_progress_bar=True, profile=True)
    assert np.array_equal(with_bar, quiet)
    assert "520" in capsys.readouterr().err
    assert minilm.profile["texts"] == 520


def test_dimensions_as_sentence_transformers_truncate_dim(minilm):
    fixture = require(TEST_DATA / "embeddings" / "all-MiniLM-L6-v2")
    texts = [r["text"] for r in read_jsonl(fixture / "texts.jsonl")][:200]
    reference = np.load(fixture / "embeddings.npy")[:200, :128]
    # sentence-transformers' encode(truncate_dim=128, normalize_embeddings=True)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    got = minilm.encode(texts, dimensions=128)
    assert got.shape == (200, 128) and got.dtype == np.float32
    assert cosines(got, reference).min() >= 0.99999
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)
    truncated = embedrt.Embedder(str(MINILM), truncate_dim=128)
    assert truncated.dimension == 128
    assert np.array_equal(truncated.encode(texts[:20]), got[:20])
    with pytest.raises(embedrt.InvalidArgumentError, match="385"):
        minilm.encode(texts[:2], dimensions=385)
    with pytest.raises(embedrt.InvalidArgumentError, match="dimensions"):
        minilm.encode(texts[:2], dimensions=0)


def test_output_precisions_as_quantize_embeddings(minilm):
    from sentence_transformers.util.quantization import quantize_embeddings
    texts = corpus_texts(64, seed=8)
    floats = minilm.encode(texts)
    calibration = minilm.encode(corpus_texts(300, seed=9))
    for precision, dtype, width in (("int8", np.int8, 384), ("uint8", np.uint8, 384),
                                    ("binary", np.int8, 48), ("ubinary", np.uint8, 48)):
        kwargs = {"calibration_embeddings": calibration} if precision.endswith("int8") else {}
        got = minilm.encode(texts, output_precision=precision, **kwargs)
        expected = quantize_embeddings(floats, precision=precision, **kwargs)
        assert got.dtype == dtype and got.shape == (64, width) and got.flags["C_CONTIGUOUS"]
        assert np.array_equal(got, expected), precision
    # Without calibration: the embeddings' own ranges, as sentence-transformers' encode does.
    own = minilm.encode(texts, output_precision="int8")
    assert np.array_equal(own, quantize_embeddings(floats, precision="int8"))
    ranges = np.stack([calibration.min(0), calibration.max(0)])
    assert np.array_equal(minilm.encode(texts, output_precision="uint8",
                                        quantization_ranges=ranges),
                          quantize_embeddings(floats, precision="uint8", ranges=ranges))
    assert minilm.encode("one text", output_precision="ubinary").shape == (48,)
    with pytest.raises(embedrt.InvalidArgumentError, match="'int4'"):
        minilm.encode(texts[:1], output_precision="int4")
    with pytest.raises(embedrt.InvalidArgumentError, match=r"\(2, 384\)"):
        minilm.encode(texts[:1], output_precision="int8", quantization_ranges=ranges[:, :10])
    with pytest.raises(embedrt.InvalidArgumentError, match="int8 and uint8 only"):
        minilm.encode(texts[:1], output_precision="binary", quantization_ranges=ranges)
