"""Matryoshka truncation (--dimensions, truncate_dim, the `dimensions` request field) and quantized
outputs (--output-precision, `encoding_format` int8/uint8/binary/ubinary) against
sentence-transformers' encode(truncate_dim=...) and quantize_embeddings."""
import base64
import json
import shutil

import numpy as np
import pytest

from conftest import (TEST_DATA, ServerProcess, assert_one_line_error, jsonl_input, require,
                      run_cli)

TINY_MEAN = TEST_DATA / "tiny-models" / "tiny-mean"  # ends with Normalize, 32 dimensions
TINY_CLS = TEST_DATA / "tiny-models" / "tiny-cls"    # no Normalize, 48 dimensions
PRECISIONS = ["int8", "uint8", "binary", "ubinary"]
FORMATS = ["jsonl", "npy", "tsv"]

WORDS = ("a man is playing guitar the woman slices an onion cat sleeps on warm mat quickly "
         "über café naïve 日本語 🙂 stock markets fell sharply today while rain kept falling").split()


def make_texts(count, seed):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 25)))) for _ in range(count)]


TEXTS = make_texts(48, 1)
CALIBRATION_TEXTS = make_texts(96, 2)


@pytest.fixture(scope="module")
def st_model():
    """sentence-transformers, loaded from a model folder (cached per folder)."""
    st = pytest.importorskip("sentence_transformers")
    cache = {}

    def load(path):
        if str(path) not in cache:
            cache[str(path)] = st.SentenceTransformer(str(require(path)), device="cpu")
        return cache[str(path)]
    return load


def quantize(embeddings, precision, **kwargs):
    from sentence_transformers.util.quantization import quantize_embeddings
    return quantize_embeddings(embeddings, precision=precision, **kwargs)


def encode(model, texts, *args, fmt="npy", tmp_path=None, name="out"):
    """`embedrt encode` on `texts`; returns the output as numpy (npy) or parsed rows (jsonl/tsv)."""
    out = tmp_path / f"{name}.{fmt}"
    run_cli("encode", "--model", model, "--threads", 1, "--input-format", "jsonl", "--format",
            fmt, "--output", out, *args, input_bytes=jsonl_input(texts))
    if fmt == "npy":
        return np.load(out)
    lines = out.read_text().splitlines()
    if fmt == "jsonl":
        return [json.loads(line) for line in lines]
    return [[int(v) if "." not in v and "e" not in v else float(v) for v in line.split("\t")]
            for line in lines]


# --- Matryoshka truncation --------------------------------------------------------------------

@pytest.mark.parametrize("model,normalize", [(TINY_MEAN, True), (TINY_CLS, False)],
                         ids=["normalizing", "not-normalizing"])
def test_dimensions_match_sentence_transformers(model, normalize, st_model, tmp_path):
    ours = encode(require(model), TEXTS, "--dimensions", 8, tmp_path=tmp_path)
    want = st_model(model).encode(TEXTS, truncate_dim=8, normalize_embeddings=normalize,
                                  convert_to_numpy=True)
    assert ours.shape == want.shape == (len(TEXTS), 8)
    np.testing.assert_allclose(ours, want, rtol=0, atol=1e-4)
    if normalize:
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)


def test_normalize_flag_renormalizes_the_head(st_model, tmp_path):
    ours = encode(require(TINY_CLS), TEXTS, "--dimensions", 8, "--normalize", tmp_path=tmp_path)
    want = st_model(TINY_CLS).encode(TEXTS, truncate_dim=8, normalize_embeddings=True)
    np.testing.assert_allclose(ours, want, rtol=0, atol=1e-4)


def test_truncate_dim_from_the_model_folder(st_model, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(require(TINY_MEAN), folder)
    config = json.loads((folder / "config_sentence_transformers.json").read_text())
    config["truncate_dim"] = 12
    (folder / "config_sentence_transformers.json").write_text(json.dumps(config))

    info = run_cli("info", "--model", folder, "--threads", 1).stdout.decode()
    assert "dimension       12 (Matryoshka truncation of 32)" in info
    ours = encode(folder, TEXTS, tmp_path=tmp_path)
    model = st_model(folder)
    assert model.truncate_dim == 12  # sentence-transformers reads the same field
    want = model.encode(TEXTS, normalize_embeddings=True)
    assert ours.shape == want.shape == (len(TEXTS), 12)
    np.testing.assert_allclose(ours, want, rtol=0, atol=1e-4)
    # An explicit --dimensions wins over the folder's.
    assert encode(folder, TEXTS[:2], "--dimensions", 32, tmp_path=tmp_path).shape == (2, 32)


@pytest.mark.parametrize("value", [0, 33])
def test_dimensions_out_of_range_is_a_one_line_error(value):
    result = run_cli("encode", "--model", require(TINY_MEAN), "--threads", 1, "--dimensions", value,
                     input_bytes=b"x\n", check=False)
    assert_one_line_error(result, f"dimensions {value}", "32")


# --- Quantized outputs ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    """Calibration embeddings [96, 32] from embedrt itself, saved as .npy."""
    path = tmp_path_factory.mktemp("calibration") / "calibration.npy"
    rows = encode(require(TINY_MEAN), CALIBRATION_TEXTS, tmp_path=path.parent, name="cal")
    np.save(path, rows)
    return path


@pytest.fixture(scope="module")
def floats(tmp_path_factory):
    """Our float32 embeddings of TEXTS: what each quantized output must be the quantization of."""
    return encode(require(TINY_MEAN), TEXTS, tmp_path=tmp_path_factory.mktemp("floats"))


def as_array(rows, precision):
    dtype = np.int8 if precision in ("int8", "binary") else np.uint8
    return np.asarray(rows, dtype=np.int64).astype(dtype) if isinstance(rows, list) else rows


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("precision", PRECISIONS)
def test_precision_equals_quantize_embeddings_byte_for_byte(precision, fmt, floats, calibration,
                                                            tmp_path):
    args = ["--output-precision", precision]
    if precision.endswith("int8"):
        args += ["--calibration", calibration]
    got = encode(TINY_MEAN, TEXTS, *args, fmt=fmt, tmp_path=tmp_path)
    want = quantize(floats, precision, calibration_embeddings=np.load(calibration))
    if fmt == "npy":
        assert got.dtype == want.dtype and got.shape == want.shape
    else:
        lists = np.asarray(got, dtype=np.int64)
        assert lists.min() >= np.iinfo(want.dtype).min and lists.max() <= np.iinfo(want.dtype).max
        got = as_array(got, precision)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_precision_against_sentence_transformers_end_to_end(precision, calibration, st_model,
                                                            tmp_path):
    """Our bytes against quantize_embeddings of sentence-transformers' own floats: equal except
    where the floats (within 1e-4 of each other) straddle a bucket boundary or zero."""
    args = ["--output-precision", precision, "--dimensions", 16]
    st_floats = st_model(TINY_MEAN).encode(TEXTS, truncate_dim=16, normalize_embeddings=True)
    cal = None
    if precision.endswith("int8"):
        cal = st_model(TINY_MEAN).encode(CALIBRATION_TEXTS, truncate_dim=16,
                                         normalize_embeddings=True)
        np.save(tmp_path / "cal16.npy", cal)
        args += ["--calibration", tmp_path / "cal16.npy"]
    got = encode(TINY_MEAN, TEXTS, *args, tmp_path=tmp_path)
    want = quantize(st_floats, precision, calibration_embeddings=cal)
    assert got.dtype == want.dtype and got.shape == want.shape
    if precision.endswith("int8"):
        assert np.abs(got.astype(np.int64) - want.astype(np.int64)).max() <= 1
        assert (got == want).mean() > 0.98
    else:
        bits_got = np.unpackbits(got.view(np.uint8) ^ (0x80 if precision == "binary" else 0),
                                 axis=1)[:, :16]
        bits_want = np.unpackbits(want.view(np.uint8) ^ (0x80 if precision == "binary" else 0),
                                  axis=1)[:, :16]
        differ = bits_got != bits_want
        assert np.all(np.abs(st_floats[differ]) < 1e-4)


def test_calibrate_on_input_and_saved_ranges(floats, tmp_path):
    got = encode(TINY_MEAN, TEXTS, "--output-precision", "uint8", "--calibrate-on-input",
                 "--save-ranges", tmp_path / "ranges.npy", tmp_path=tmp_path)
    # As sentence-transformers' encode(precision=...) does: ranges of the whole list.
    np.testing.assert_array_equal(got, quantize(floats, "uint8"))
    ranges = np.load(tmp_path / "ranges.npy")
    np.testing.assert_array_equal(ranges, np.vstack([floats.min(axis=0), floats.max(axis=0)]))
    again = encode(TINY_MEAN, TEXTS[:5], "--output-precision", "uint8",
                   "--quantization-ranges", tmp_path / "ranges.npy", tmp_path=tmp_path, name="b")
    np.testing.assert_array_equal(again, quantize(floats[:5], "uint8", ranges=ranges))
    np.testing.assert_array_equal(again, got[:5])  # a text's bytes do not depend on its batch


def test_empty_input_gives_an_empty_array_of_the_packed_width(tmp_path):
    out = encode(TINY_MEAN, [], "--output-precision", "binary", tmp_path=tmp_path)
    assert out.shape == (0, 4) and out.dtype == np.int8


@pytest.mark.parametrize("args,needles", [
    (["--output-precision", "int8"], ["int8", "--calibration"]),
    (["--output-precision", "binary", "--calibrate-on-input"], ["int8 and uint8"]),
    (["--output-precision", "uint8", "--quantization-ranges", "MISSING.npy"], ["MISSING.npy"]),
])
def test_bad_quantization_options_are_one_line_errors(args, needles, tmp_path):
    result = run_cli("encode", "--model", require(TINY_MEAN), "--threads", 1, *args, input_bytes=b"x\n",
                     check=False)
    assert_one_line_error(result, *needles)


def test_calibration_of_another_dimension_names_the_file(calibration, tmp_path):
    result = run_cli("encode", "--model", TINY_MEAN, "--threads", 1, "--dimensions", 8, "--output-precision",
                     "int8", "--calibration", calibration, input_bytes=b"x\n", check=False)
    assert_one_line_error(result, "calibration.npy", "32", "8")


def test_unknown_output_precision_is_rejected():
    result = run_cli("encode", "--model", require(TINY_MEAN), "--threads", 1, "--output-precision", "fp16",
                     input_bytes=b"x\n", check=False)
    assert result.returncode != 0 and b"fp16" in result.stderr


# --- The server -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(calibration):
    proc = ServerProcess(TINY_MEAN, "--threads", 1, "--calibration", calibration).wait_ready()
    yield proc
    proc.terminate()


def test_server_dimensions_equal_the_cli(server, tmp_path):
    ours = encode(TINY_MEAN, TEXTS[:4], "--dimensions", 8, tmp_path=tmp_path)
    for style, body in (("/v1/embeddings", {"input": TEXTS[:4], "dimensions": 8,
                                            "encoding_format": "base64"}),
                        ("/embed", {"inputs": TEXTS[:4], "dimensions": 8})):
        status, _, reply = server.post(style, body)
        assert status == 200, reply
        if style == "/embed":
            got = np.asarray(reply, dtype=np.float32)
        else:
            got = np.stack([np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4")
                            for d in reply["data"]])
        np.testing.assert_array_equal(got, ours)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_server_encoding_format_quantizes_like_the_cli(precision, server, floats, calibration):
    status, _, reply = server.post("/v1/embeddings",
                                   {"input": TEXTS[:6], "encoding_format": precision})
    assert status == 200, reply
    got = as_array([d["embedding"] for d in reply["data"]], precision)
    want = quantize(floats[:6], precision, calibration_embeddings=np.load(calibration))
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("body,param,needle", [
    ({"input": "x", "dimensions": 0}, "dimensions", "positive integer"),
    ({"input": "x", "dimensions": 33}, "dimensions", "32"),
    ({"input": "x", "dimensions": "8"}, "dimensions", "positive integer"),
    ({"input": "x", "dimensions": 8.5}, "dimensions", "positive integer"),
    ({"input": "x", "encoding_format": "fp16"}, "encoding_format", "ubinary"),
    ({"input": "x", "encoding_format": 8}, "encoding_format", "ubinary"),
    # The server's calibration is for 32 dimensions.
    ({"input": "x", "encoding_format": "int8", "dimensions": 8}, "encoding_format", "32"),
])
def test_server_bad_requests_are_one_line_422s(server, body, param, needle):
    status, _, reply = server.post("/v1/embeddings", body)
    assert status == 422, reply
    message = reply["error"]["message"]
    assert reply["error"]["param"] == param and needle in message and "\n" not in message


def test_server_default_dimensions_and_no_calibration(tmp_path):
    proc = ServerProcess(TINY_MEAN, "--threads", 1, "--dimensions", 8).wait_ready()
    try:
        _, _, info = proc.request("GET", "/info")
        info = json.loads(info)
        assert info["dimensions"] == 8 and info["model_dimensions"] == 32
        status, _, reply = proc.post("/v1/embeddings", {"input": TEXTS[:2]})
        assert status == 200 and len(reply["data"][0]["embedding"]) == 8
        status, _, reply = proc.post("/v1/embeddings", {"input": "x", "encoding_format": "uint8"})
        assert status == 422 and "--calibration" in reply["error"]["message"]
        status, _, reply = proc.post("/v1/embeddings", {"input": "x", "encoding_format": "ubinary"})
        assert status == 200 and len(reply["data"][0]["embedding"]) == 1
    finally:
        proc.terminate()
