"""`embedrt rerank` against sentence-transformers' CrossEncoder.rank / predict on the tiny reranker
fixtures (scripts/make_reranker_models.py): order, scores, --top-k, --raw-scores, several labels,
and bad input."""
import json

import numpy as np
import pytest

from conftest import TEST_DATA, assert_one_line_error, jsonl_input, read_jsonl, require, run_cli

MODELS = TEST_DATA / "reranker-models"


def documents_and_queries():
    records = read_jsonl(require(MODELS / "tiny-bert-ce-1" / "reference.jsonl"))
    documents = [r["document"] for r in records[:40]]
    queries = [records[i]["query"] for i in (1, 5, 9)]
    return documents, queries


def rerank(model, query, documents, *extra):
    result = run_cli("rerank", "--model", model, "--query", query, "--input-format", "jsonl",
                     "--threads", 2, *extra, input_bytes=jsonl_input(documents))
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


@pytest.fixture(scope="module")
def cross_encoders():
    from sentence_transformers import CrossEncoder
    return {name: CrossEncoder(str(require(MODELS / name)), device="cpu")
            for name in ("tiny-bert-ce-1", "tiny-xlmr-ce-1", "tiny-xlmr-ce-3",
                         "tiny-modernbert-ce-1", "tiny-mpnet-ce-1")}


@pytest.mark.parametrize("name", ["tiny-bert-ce-1", "tiny-xlmr-ce-1", "tiny-modernbert-ce-1",
                                  "tiny-mpnet-ce-1"])
def test_rank_matches_cross_encoder(cross_encoders, name):
    documents, queries = documents_and_queries()
    for query in queries:
        expected = cross_encoders[name].rank(query, documents)
        got = rerank(MODELS / name, query, documents)
        assert sorted(g["index"] for g in got) == list(range(len(documents)))
        assert all(a["score"] >= b["score"] for a, b in zip(got, got[1:]))  # best first
        by_index = {g["index"]: g["score"] for g in got}
        assert max(abs(by_index[e["corpus_id"]] - e["score"]) for e in expected) <= 1e-5
        top = rerank(MODELS / name, query, documents, "--top-k", 3)
        assert [t["index"] for t in top] == [g["index"] for g in got[:3]]


def test_raw_scores_and_several_labels_match_predict(cross_encoders):
    import torch
    documents, queries = documents_and_queries()
    pairs = [(queries[0], d) for d in documents]
    raw = rerank(MODELS / "tiny-bert-ce-1", queries[0], documents, "--raw-scores")
    logits = cross_encoders["tiny-bert-ce-1"].predict(pairs, activation_fn=torch.nn.Identity())
    assert max(abs(r["score"] - float(logits[r["index"]])) for r in raw) <= 1e-5
    three = rerank(MODELS / "tiny-xlmr-ce-3", queries[0], documents)
    expected = cross_encoders["tiny-xlmr-ce-3"].predict(pairs)
    assert [t["index"] for t in three] == list(range(len(documents)))
    assert np.abs(np.array([t["scores"] for t in three]) - expected).max() <= 1e-5


def test_bad_input_is_a_one_line_error():
    require(MODELS / "tiny-xlmr-ce-3")
    result = run_cli("rerank", "--model", MODELS / "tiny-xlmr-ce-3", "--query", "q", "--top-k", 1,
                     input_bytes=b"a\n", check=False)
    assert_one_line_error(result, "--top-k", "3 labels")
    embedding_model = require(TEST_DATA / "family-models" / "tiny-xlm-roberta")
    result = run_cli("rerank", "--model", embedding_model, "--query", "q", input_bytes=b"a\n",
                     check=False)
    assert_one_line_error(result, "classification head")
    result = run_cli("rerank", "--model", MODELS / "tiny-bert-ce-1", input_bytes=b"a\n", check=False)
    assert result.returncode != 0 and b"--query" in result.stderr
