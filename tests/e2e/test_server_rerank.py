"""`embedrt serve` with a cross-encoder or a SPLADE model: /rerank, /v1/rerank, /predict and
/embed_sparse against sentence-transformers' CrossEncoder and SparseEncoder on the tiny fixtures
(scripts/make_reranker_models.py), the routes another kind of model cannot answer, /info, /metrics,
concurrent clients and bad requests."""
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from conftest import TEST_DATA, TINY_MEAN, ServerProcess, read_jsonl, require

MODELS = TEST_DATA / "reranker-models"
RERANKER = MODELS / "tiny-bert-ce-1"
CLASSIFIER = MODELS / "tiny-xlmr-ce-3"
SPLADE = MODELS / "tiny-bert-splade"


def serve(model, *args):
    return ServerProcess(require(model), "--threads", "2", *args).wait_ready()


@pytest.fixture(scope="module")
def reranker():
    srv = serve(RERANKER, "--max-client-batch-size", "64")
    yield srv
    assert srv.terminate() == 0, "".join(srv.log)


@pytest.fixture(scope="module")
def classifier():
    srv = serve(CLASSIFIER)
    yield srv
    assert srv.terminate() == 0, "".join(srv.log)


@pytest.fixture(scope="module")
def splade():
    srv = serve(SPLADE)
    yield srv
    assert srv.terminate() == 0, "".join(srv.log)


@pytest.fixture(scope="module")
def cross_encoders():
    from sentence_transformers import CrossEncoder
    return {path: CrossEncoder(str(require(path)), device="cpu") for path in (RERANKER, CLASSIFIER)}


@pytest.fixture(scope="module")
def documents():
    records = read_jsonl(require(RERANKER / "reference.jsonl"))
    return [r["document"] for r in records[:24]]


QUERIES = ["what is a cat?", "the weather today", "ünïcödé query"]


def post_ok(srv, path, body):
    status, _, answer = srv.post(path, body)
    assert status == 200, answer
    return answer


def predict_raw(ce, pairs):
    import torch
    return ce.predict(pairs, activation_fn=torch.nn.Identity(), convert_to_numpy=True)


# --- /rerank (TEI) ----------------------------------------------------------------------------

def test_rerank_matches_cross_encoder(reranker, cross_encoders, documents):
    ce = cross_encoders[RERANKER]
    for query in QUERIES:
        expected = ce.predict([(query, d) for d in documents], convert_to_numpy=True)
        got = post_ok(reranker, "/rerank", {"query": query, "texts": documents})
        assert sorted(g["index"] for g in got) == list(range(len(documents)))
        assert all(set(g) == {"index", "score"} for g in got)
        assert all(a["score"] >= b["score"] for a, b in zip(got, got[1:]))  # best first
        assert max(abs(g["score"] - float(expected[g["index"]])) for g in got) <= 1e-5


def test_rerank_raw_scores_and_return_text(reranker, cross_encoders, documents):
    query = QUERIES[0]
    logits = predict_raw(cross_encoders[RERANKER], [(query, d) for d in documents])
    got = post_ok(reranker, "/rerank", {"query": query, "texts": documents, "raw_scores": True,
                                        "return_text": True})
    assert max(abs(g["score"] - float(logits[g["index"]])) for g in got) <= 1e-5
    assert all(g["text"] == documents[g["index"]] for g in got)
    assert all(a["score"] >= b["score"] for a, b in zip(got, got[1:]))


def test_rerank_truncation_is_asked_for(reranker, cross_encoders):
    long_text = "word " * 400  # far over the fixture's 96 tokens
    status, _, body = reranker.post("/rerank", {"query": "q", "texts": ["short", long_text]})
    assert status == 422 and body["error"].startswith("texts[1]: ") and "truncate" in body["error"]
    got = post_ok(reranker, "/rerank", {"query": "q", "texts": ["short", long_text],
                                        "truncate": True})
    expected = cross_encoders[RERANKER].predict([("q", "short"), ("q", long_text)])
    assert max(abs(g["score"] - float(expected[g["index"]])) for g in got) <= 1e-5


# --- /v1/rerank (Cohere, Jina) ------------------------------------------------------------------

def test_cohere_rerank_top_n_and_documents(reranker, cross_encoders, documents):
    query = QUERIES[1]
    expected = cross_encoders[RERANKER].predict([(query, d) for d in documents])
    mixed = [d if i % 2 else {"text": d} for i, d in enumerate(documents)]  # both forms
    full = post_ok(reranker, "/v1/rerank", {"model": "anything", "query": query,
                                            "documents": mixed})
    assert full["model"] == "tiny-bert-ce-1" and full["id"]
    assert full["usage"]["total_tokens"] > 0 and full["meta"]["api_version"]["version"] == "1"
    results = full["results"]
    assert sorted(r["index"] for r in results) == list(range(len(documents)))
    assert all(set(r) == {"index", "relevance_score"} for r in results)
    assert max(abs(r["relevance_score"] - float(expected[r["index"]])) for r in results) <= 1e-5
    top = post_ok(reranker, "/v1/rerank", {"query": query, "documents": documents, "top_n": 3,
                                           "return_documents": True})["results"]
    assert [t["index"] for t in top] == [r["index"] for r in results[:3]]
    assert all(t["document"] == {"text": documents[t["index"]]} for t in top)
    # The same on Cohere's v2 path. (LangChain's and LlamaIndex's Cohere and Jina rerankers read
    # results[].index, .relevance_score and .document.text.)
    v2 = post_ok(reranker, "/v2/rerank", {"query": query, "documents": documents, "top_n": 3})
    assert [t["index"] for t in v2["results"]] == [t["index"] for t in top]


# --- /predict -----------------------------------------------------------------------------------

def test_predict_pairs_and_single_texts(reranker, classifier, cross_encoders, documents):
    import torch
    for srv, path in ((reranker, RERANKER), (classifier, CLASSIFIER)):
        ce = cross_encoders[path]
        pairs = [(QUERIES[0], d) for d in documents[:6]]
        expected = np.asarray(ce.predict(pairs, convert_to_numpy=True)).reshape(len(pairs), -1)
        labels = [ce.model.config.id2label[k] for k in range(expected.shape[1])]
        got = post_ok(srv, "/predict", {"inputs": [list(p) for p in pairs]})
        assert len(got) == len(pairs)
        for row, want in zip(got, expected):
            assert [p["score"] for p in row] == sorted((p["score"] for p in row), reverse=True)
            by_label = {p["label"]: p["score"] for p in row}
            assert sorted(by_label) == sorted(labels)
            assert max(abs(by_label[labels[k]] - float(want[k])) for k in range(len(labels))) <= 1e-5
        # One pair (TEI reads a two-string list as a pair): one list, not a list of lists.
        one = post_ok(srv, "/predict", {"inputs": list(pairs[0])})
        assert isinstance(one[0], dict) and len(one) == len(labels)
        assert {p["label"]: p["score"] for p in one} == {p["label"]: p["score"] for p in got[0]}
        # Single texts, against the model run by transformers with CrossEncoder's activation.
        texts = ["a single text", "another one", "and a third"]
        with torch.no_grad():
            encoded = ce.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
            logits = ce.model(**encoded).logits
            scores = ce.activation_fn(logits).numpy()
        got = post_ok(srv, "/predict", {"inputs": texts})
        for row, want in zip(got, scores):
            by_label = {p["label"]: p["score"] for p in row}
            assert max(abs(by_label[labels[k]] - float(want[k])) for k in range(len(labels))) <= 1e-5
        raw = post_ok(srv, "/predict", {"inputs": texts, "raw_scores": True})
        for row, want in zip(raw, logits.numpy()):
            by_label = {p["label"]: p["score"] for p in row}
            assert max(abs(by_label[labels[k]] - float(want[k])) for k in range(len(labels))) <= 1e-5


# --- /embed_sparse ------------------------------------------------------------------------------

def test_embed_sparse_matches_sparse_encoder(splade, documents):
    from sentence_transformers import SparseEncoder
    encoder = SparseEncoder(str(SPLADE), device="cpu")
    texts = documents[:12] + ["a cat sat on the mat"]
    dense = encoder.encode(texts, convert_to_tensor=True).to_dense().numpy()
    got = post_ok(splade, "/embed_sparse", {"inputs": texts})
    assert len(got) == len(texts)
    for row, want in zip(got, dense):
        indices = [v["index"] for v in row]
        assert indices == sorted(indices)
        assert set(indices) == set(np.flatnonzero(want).tolist())
        values = np.asarray([v["value"] for v in row])
        assert np.abs(values - want[indices]).max(initial=0) <= 1e-4
    single = post_ok(splade, "/embed_sparse", {"inputs": texts[-1]})
    assert single == [got[-1]]


# --- routes the loaded model cannot answer, /info, /metrics ------------------------------------

@pytest.mark.parametrize("path,body", [("/embed", {"inputs": "x"}),
                                       ("/v1/embeddings", {"input": "x"}),
                                       ("/embed_sparse", {"inputs": "x"})])
def test_reranker_refuses_other_routes(reranker, path, body):
    status, _, answer = reranker.post(path, body)
    assert status == 424
    message = answer["error"]["message"] if path.startswith("/v1/") else answer["error"]
    assert message.startswith(path + ": the loaded model is a reranker model; use /rerank")


def test_classifier_and_sparse_refuse_rerank(classifier, splade):
    status, _, answer = classifier.post("/rerank", {"query": "q", "texts": ["a"]})
    assert status == 424 and answer["error"] == (
        "/rerank: the loaded model is a classifier model; use /predict")
    status, _, answer = splade.post("/predict", {"inputs": "a"})
    assert status == 424 and "sparse model; use /embed_sparse" in answer["error"]
    status, _, answer = splade.post("/embed", {"inputs": "a"})
    assert status == 424


def test_embedder_refuses_rerank_and_says_its_kind():
    srv = serve(TINY_MEAN)
    try:
        status, _, answer = srv.post("/rerank", {"query": "q", "texts": ["a"]})
        assert status == 424
        assert answer["error"] == ("/rerank: the loaded model is an embedding model; use "
                                   "/v1/embeddings, /embed or /tokenize")
        info = json.loads(srv.request("GET", "/info")[2])
        assert info["kind"] == "embedding" and "pooling" in info["model_type"]["embedding"]
    finally:
        assert srv.terminate() == 0


def test_info_says_the_kind(reranker, classifier, splade):
    info = json.loads(reranker.request("GET", "/info")[2])
    assert info["kind"] == "reranker"
    assert info["model_type"] == {"reranker": {"id2label": {"0": "LABEL_0"},
                                               "label2id": {"LABEL_0": 0}}}
    info = json.loads(classifier.request("GET", "/info")[2])
    assert info["kind"] == "classifier" and len(info["model_type"]["classifier"]["id2label"]) == 3
    info = json.loads(splade.request("GET", "/info")[2])
    assert info["kind"] == "sparse" and info["model_type"] == {"embedding": {"pooling": "splade"}}


def test_metrics_count_the_new_routes(reranker, splade):
    post_ok(reranker, "/rerank", {"query": "q", "texts": ["a"]})
    post_ok(reranker, "/predict", {"inputs": ["q", "a"]})
    post_ok(splade, "/embed_sparse", {"inputs": "a"})
    metrics = reranker.request("GET", "/metrics")[2].decode()
    for endpoint in ("/rerank", "/predict"):
        assert f'embedrt_requests_total{{endpoint="{endpoint}",status="200"}}' in metrics
    metrics = splade.request("GET", "/metrics")[2].decode()
    assert 'embedrt_requests_total{endpoint="/embed_sparse",status="200"}' in metrics


# --- concurrency ----------------------------------------------------------------------------------

def test_concurrent_clients_get_the_scores_of_one_call(reranker, documents):
    requests = [{"query": f"{QUERIES[i % 3]} {i}", "texts": documents[i % 5:i % 5 + 12],
                 "raw_scores": True} for i in range(12)]
    alone = [post_ok(reranker, "/rerank", r) for r in requests]
    batches = reranker.metric("embedrt_batch_size_count")
    with ThreadPoolExecutor(12) as pool:
        together = list(pool.map(lambda r: post_ok(reranker, "/rerank", r), requests * 2))
    assert together == alone * 2  # bit for bit, whatever batch each pair rode in
    # The pairs of concurrent clients shared model batches (the same scheduler as embeddings).
    assert reranker.metric("embedrt_batch_size_count") - batches < len(requests) * 2


# --- bad requests -----------------------------------------------------------------------------------

@pytest.mark.parametrize("path,body,field", [
    ("/rerank", {"texts": ["a"]}, "query"),
    ("/rerank", {"query": 3, "texts": ["a"]}, "query"),
    ("/rerank", {"query": "q"}, "texts"),
    ("/rerank", {"query": "q", "texts": []}, "texts"),
    ("/rerank", {"query": "q", "texts": "a"}, "texts"),
    ("/rerank", {"query": "q", "texts": ["a", 2]}, "texts[1]"),
    ("/rerank", {"query": "q", "texts": ["a"], "raw_scores": "yes"}, "raw_scores"),
    ("/rerank", {"query": "q", "texts": ["a"], "truncation_direction": "Left"},
     "truncation_direction"),
    ("/v1/rerank", {"query": "q"}, "documents"),
    ("/v1/rerank", {"query": "q", "documents": [{"title": "a"}]}, "documents[0]"),
    ("/v1/rerank", {"query": "q", "documents": ["a"], "top_n": 0}, "top_n"),
    ("/predict", {"inputs": []}, "inputs"),
    ("/predict", {"inputs": ["a", ["b", "c", "d"]]}, "inputs[1]"),
    ("/predict", {"inputs": 5}, "inputs"),
])
def test_bad_requests_name_the_field(reranker, path, body, field):
    status, _, answer = reranker.post(path, body)
    assert status == 422, answer
    message = answer["error"]["message"] if path.startswith("/v1/") else answer["error"]
    assert message.startswith(field + ": ") and "\n" not in message
    if path.startswith("/v1/"):
        assert answer["error"]["param"] == field


def test_more_texts_than_the_limit(reranker, splade):
    status, _, answer = reranker.post("/rerank", {"query": "q", "texts": ["a"] * 65})
    assert status == 413 and answer["error"] == (
        "texts: 65 inputs, over the limit of 64 per request")
    status, _, answer = reranker.post("/v1/rerank", {"query": "q", "documents": ["a"] * 65})
    assert status == 413 and answer["error"]["param"] == "documents"
    status, _, answer = splade.post("/embed_sparse", {"inputs": ["a"] * 2049})
    assert status == 413 and answer["error"].startswith("inputs: 2049 inputs")
