"""`embedrt encode` on SPLADE models (scripts/make_reranker_models.py's tiny-bert-splade and
tiny-bert-splade-sum) against sentence-transformers' SparseEncoder.encode: the same non-zero
entries and values, --top-k against max_active_dims, and options that do not apply to sparse
output."""
import json

import numpy as np
import pytest

from conftest import (MINILM, TEST_DATA, assert_one_line_error, jsonl_input, read_jsonl, require,
                      run_cli)

MODELS = TEST_DATA / "reranker-models"
TEXTS = 60


def texts():
    records = read_jsonl(require(MODELS / "tiny-bert-splade" / "reference.jsonl"))
    # A few edge cases beside the corpus texts: empty, spaces only, a prompt-like prefix.
    return [r["text"] for r in records[:TEXTS]] + ["", "   ", "query: what is SPLADE?"]


def encode(model, items, *extra):
    result = run_cli("encode", "--model", model, "--input-format", "jsonl", "--threads", 2, *extra,
                     input_bytes=jsonl_input(items))
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


def reference(name, items, **kwargs):
    from sentence_transformers import SparseEncoder
    model = SparseEncoder(str(MODELS / name), device="cpu")
    dense = model.encode(items, batch_size=32, convert_to_tensor=True, **kwargs)
    return dense.to_dense().numpy()


@pytest.mark.parametrize("name", ["tiny-bert-splade", "tiny-bert-splade-sum"])
def test_sparse_jsonl_matches_sparse_encoder(name):
    require(MODELS / name)
    items = texts()
    got = encode(MODELS / name, items)
    assert len(got) == len(items)
    expected = reference(name, items)
    for row, line in zip(expected, got):
        assert set(line) == {"indices", "values"}
        assert line["indices"] == sorted(line["indices"])
        assert all(v > 0 for v in line["values"])
        assert line["indices"] == [int(i) for i in row.nonzero()[0]]
        assert np.abs(np.array(line["values"]) - row[line["indices"]]).max(initial=0) <= 1e-4


def test_top_k_keeps_the_largest_values():
    name = "tiny-bert-splade"
    require(MODELS / name)
    items = texts()
    k = 16
    got = encode(MODELS / name, items, "--top-k", k)
    expected = reference(name, items, max_active_dims=k)
    for row, line in zip(expected, got):
        assert len(line["indices"]) == min(k, int((row > 0).sum()))
        assert line["indices"] == sorted(line["indices"])
        # The K largest values, whichever of equal values at the boundary each side keeps.
        want = np.sort(row[row > 0])[::-1][:k]
        assert np.abs(np.sort(line["values"])[::-1] - want).max(initial=0) <= 1e-4


def test_options_for_dense_output_are_one_line_errors():
    model = require(MODELS / "tiny-bert-splade")
    for extra, needle in [(("--format", "npy"), "--format npy"), (("-f", "tsv"), "--format tsv"),
                          (("--output-precision", "int8", "--calibrate-on-input"),
                           "--output-precision int8"),
                          (("--pooling", "mean"), "--pooling")]:
        result = run_cli("encode", "--model", model, *extra, input_bytes=b"a\n", check=False)
        assert_one_line_error(result, needle, "sparse")
    result = run_cli("encode", "--model", require(MINILM), "--top-k", 5, input_bytes=b"a\n",
                     check=False)
    assert_one_line_error(result, "--top-k", "sparse")
