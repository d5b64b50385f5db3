"""embedrt.Reranker, SparseEncoder and detect_model_kind against sentence-transformers (the
reference scores and vectors scripts/make_reranker_models.py saved from CrossEncoder.predict and
SparseEncoder.encode, and CrossEncoder.rank itself), and bad input."""
import sys

import numpy as np
import pytest

import embedrt
from conftest import MINILM, TEST_DATA, read_jsonl, require

MODELS = TEST_DATA / "reranker-models"
CROSS_ENCODERS = ["tiny-bert-ce-1", "tiny-bert-ce-3", "tiny-xlmr-ce-1", "tiny-xlmr-ce-3"]


def reference(name):
    return read_jsonl(require(MODELS / name / "reference.jsonl"))


@pytest.mark.parametrize("name", CROSS_ENCODERS)
def test_predict_equals_cross_encoder(name):
    rows = reference(name)
    pairs = [(r["query"], r["document"]) for r in rows]
    reranker = embedrt.Reranker(str(MODELS / name))
    labels = len(rows[0]["scores"])
    assert reranker.num_labels == labels
    scores = reranker.predict(pairs)
    logits = reranker.predict(pairs, raw=True)
    # CrossEncoder.predict's shapes: [N] for one label, [N, labels] otherwise.
    assert scores.dtype == np.float32
    assert scores.shape == ((len(pairs),) if labels == 1 else (len(pairs), labels))
    expected = np.array([r["scores"] for r in rows], dtype=np.float32).reshape(scores.shape)
    expected_logits = np.array([r["logits"] for r in rows], dtype=np.float32).reshape(scores.shape)
    diff = float(np.abs(scores - expected).max())
    diff_logits = float(np.abs(logits - expected_logits).max())
    print(f"{name}: {len(pairs)} pairs, max |score diff| {diff:.3g}, logits {diff_logits:.3g}")
    assert diff <= 1e-5 and diff_logits <= 1e-5
    # One pair gives one score (or one row), as CrossEncoder.predict(("q", "d")).
    one = reranker.predict(list(pairs[5]))
    assert np.array_equal(one, scores[5])
    assert np.array_equal(reranker.predict([]).shape, (0,) if labels == 1 else (0, labels))


@pytest.mark.parametrize("name", ["tiny-bert-ce-1", "tiny-xlmr-ce-1"])
def test_rank_orders_by_cross_encoder_score(name):
    rows = reference(name)[:60]
    query = "a man is playing a guitar"
    documents = [r["document"] for r in rows]
    reranker = embedrt.Reranker(str(MODELS / name))
    scores = reranker.predict([(query, d) for d in documents])
    ranked = reranker.rank(query, documents)
    assert [r["corpus_id"] for r in ranked] == list(np.argsort(-scores, kind="stable"))
    assert all(isinstance(r["score"], float) and set(r) == {"corpus_id", "score"} for r in ranked)
    assert [r["score"] for r in ranked] == sorted((float(s) for s in scores), reverse=True)
    top = reranker.rank(query, documents, top_k=3, return_documents=True)
    assert [r["corpus_id"] for r in top] == [r["corpus_id"] for r in ranked[:3]]
    assert [r["text"] for r in top] == [documents[r["corpus_id"]] for r in top]
    assert reranker.rank(query, []) == []


def test_rank_equals_cross_encoder_rank():
    pytest.importorskip("sentence_transformers")
    from sentence_transformers import CrossEncoder
    path = require(MODELS / "tiny-bert-ce-1")
    documents = [r["document"] for r in reference("tiny-bert-ce-1")[:40]]
    query = "Which animal sleeps on the sofa?"
    expected = CrossEncoder(str(path), device="cpu").rank(query, documents, top_k=10,
                                                          return_documents=True)
    got = embedrt.Reranker(str(path)).rank(query, documents, top_k=10, return_documents=True)
    assert [r["corpus_id"] for r in got] == [r["corpus_id"] for r in expected]
    assert [r["text"] for r in got] == [r["text"] for r in expected]
    assert max(abs(a["score"] - b["score"]) for a, b in zip(got, expected)) <= 1e-5


# The vocabulary-sized head makes SPLADE the slow part: max pooling on every reference text, sum
# pooling (the same encoder, another reduction) on the first 100.
@pytest.mark.parametrize("name,count", [("tiny-bert-splade", None), ("tiny-bert-splade-sum", 100)])
def test_sparse_encode_equals_sparse_encoder(name, count):
    rows = reference(name)[:count]
    texts = [r["text"] for r in rows]
    encoder = embedrt.SparseEncoder(str(MODELS / name))
    matrix = encoder.encode(texts)
    assert matrix.shape == (len(texts), encoder.vocab_size) and matrix.dtype == np.float32
    worst = 0.0
    for i, r in enumerate(rows):
        row = matrix.getrow(i)
        assert list(row.indices) == r["indices"], f"text {i}: non-zero set differs"
        worst = max(worst, float(np.abs(row.data - np.array(r["values"], np.float32)).max(
            initial=0.0)))
    print(f"{name}: {len(texts)} texts, {matrix.nnz} non-zeros, max |diff| {worst:.3g}")
    assert worst <= 1e-4
    lists = encoder.encode(texts[:20], output="lists")
    for i, (indices, values) in enumerate(lists):
        assert indices.dtype == np.int32 and values.dtype == np.float32
        assert np.array_equal(indices, matrix.getrow(i).indices)
        assert np.array_equal(values, matrix.getrow(i).data)
    one = encoder.encode(texts[3], output="lists")
    assert np.array_equal(one[0], lists[3][0]) and np.array_equal(one[1], lists[3][1])
    assert encoder.encode(texts[3]).shape == (1, encoder.vocab_size)


def test_sparse_top_k_and_without_scipy(monkeypatch):
    path = require(MODELS / "tiny-bert-splade")
    encoder = embedrt.SparseEncoder(str(path))
    texts = ["A man is playing a guitar.", "The new movie is awesome.", ""]
    full = encoder.encode(texts, output="lists")
    for (indices, values), (top_i, top_v) in zip(full, encoder.encode(texts, top_k=3,
                                                                      output="lists")):
        keep = np.sort(np.argsort(-values, kind="stable")[:3])
        assert np.array_equal(top_i, indices[keep]) and np.array_equal(top_v, values[keep])
    monkeypatch.setitem(sys.modules, "scipy", None)  # import scipy now fails
    monkeypatch.setitem(sys.modules, "scipy.sparse", None)
    plain = encoder.encode(texts)
    assert isinstance(plain, list) and all(np.array_equal(a[0], b[0]) for a, b in zip(plain, full))
    with pytest.raises(ImportError):
        encoder.encode(texts, output="csr")


def test_detect_model_kind():
    assert embedrt.detect_model_kind(str(require(MODELS / "tiny-bert-ce-1"))) == "reranker"
    assert embedrt.detect_model_kind(MODELS / "tiny-xlmr-ce-3") == "classifier"
    assert embedrt.detect_model_kind(str(MODELS / "tiny-bert-splade")) == "sparse"
    assert embedrt.detect_model_kind(str(require(MINILM))) == "embedding"
    with pytest.raises(embedrt.EmbedrtIOError, match="no-such-model"):
        embedrt.detect_model_kind("no-such-model")


def test_bad_input(tmp_path):
    reranker = embedrt.Reranker(str(require(MODELS / "tiny-bert-ce-1")))
    with pytest.raises(TypeError, match=r"pairs\[1\] must be a \(str, str\) pair"):
        reranker.predict([("q", "d"), "not a pair"])
    with pytest.raises(TypeError, match=r"pairs\[0\]\[1\] is int"):
        reranker.predict([("q", 3)])
    with pytest.raises(TypeError, match="pairs must be a list"):
        reranker.predict("text")
    with pytest.raises(embedrt.InvalidArgumentError, match=r"pairs\[0\]\[0\] cannot be encoded"):
        reranker.predict([("\ud800", "d")])
    with pytest.raises(TypeError, match="query must be a str"):
        reranker.rank(["q"], ["d"])
    with pytest.raises(TypeError, match="documents must be a list of str"):
        reranker.rank("q", "d")
    with pytest.raises(embedrt.InvalidArgumentError, match="top_k must be at least 1"):
        reranker.rank("q", ["d"], top_k=0)
    classifier = embedrt.Reranker(str(MODELS / "tiny-bert-ce-3"))
    with pytest.raises(embedrt.InvalidArgumentError) as error:
        classifier.rank("q", ["d"])
    assert "\n" not in str(error.value)
    with pytest.raises(embedrt.EmbedrtIOError, match="no-such-model"):
        embedrt.Reranker("no-such-model")
    with pytest.raises(embedrt.InvalidArgumentError, match="threads"):
        embedrt.Reranker(str(MODELS / "tiny-bert-ce-1"), threads=-1)
    with pytest.raises(embedrt.Error):
        embedrt.SparseEncoder(str(MODELS / "tiny-bert-ce-1"))  # not a SPLADE folder
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    with pytest.raises(embedrt.InvalidModelError, match="config.json"):
        embedrt.detect_model_kind(str(bad))
    encoder = embedrt.SparseEncoder(str(MODELS / "tiny-bert-splade"))
    with pytest.raises(TypeError, match=r"sentences\[1\] is int"):
        encoder.encode(["a", 1])
    with pytest.raises(embedrt.InvalidArgumentError, match="output 'dense'"):
        encoder.encode(["a"], output="dense")
    with pytest.raises(embedrt.InvalidArgumentError, match="top_k"):
        encoder.encode(["a"], top_k=0)


@pytest.mark.parametrize("kind", ["reranker", "sparse"])
def test_python_runs_while_the_model_runs(kind):
    """Model calls release the GIL (as Embedder.encode): another Python thread keeps counting
    through the call, where a held GIL would let it run for one switch interval (5 ms) at most."""
    import threading
    import time
    if kind == "reranker":
        model = embedrt.Reranker(str(require(MODELS / "tiny-bert-ce-1")), threads=1)
        rows = reference("tiny-bert-ce-1")
        # Repeated so that one call lasts well past 0.1 s on a fast CPU too.
        work = [(r["query"] + " " + r["document"], r["document"] * 3) for r in rows] * 4
        call = lambda: model.predict(work)  # noqa: E731
    else:
        model = embedrt.SparseEncoder(str(require(MODELS / "tiny-bert-splade")), threads=1)
        work = [r["text"] for r in reference("tiny-bert-splade")[:40]] * 4
        call = lambda: model.encode(work)  # noqa: E731

    def count_until(done, counts):
        n = 0
        while not done.is_set():
            n += 1
        counts.append(n)

    def counted(seconds=None):
        done, counts = threading.Event(), []
        counter = threading.Thread(target=count_until, args=(done, counts))
        counter.start()
        started = time.perf_counter()
        time.sleep(seconds) if seconds else call()
        elapsed = time.perf_counter() - started
        done.set()
        counter.join()
        return counts[0], elapsed

    alone, alone_seconds = counted(0.2)
    during, call_seconds = counted()
    print(f"{kind}: counted {during} in a {call_seconds:.2f} s call; alone {alone} in 0.2 s")
    assert call_seconds > 0.1
    assert during > alone / alone_seconds * 0.02, (during, alone, call_seconds)
