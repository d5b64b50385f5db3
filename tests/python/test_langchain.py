"""embedrt.integrations.langchain.EmbedrtEmbeddings as LangChain uses it."""
import json

import numpy as np
import pytest

pytest.importorskip("langchain_core")
from langchain_core.embeddings import Embeddings  # noqa: E402
from langchain_core.vectorstores import InMemoryVectorStore  # noqa: E402

import embedrt  # noqa: E402
from conftest import MINILM, TEST_DATA, TINY_PROMPTS, cosines, read_jsonl, require  # noqa: E402
from embedrt.integrations.langchain import EmbedrtEmbeddings  # noqa: E402


def test_documents_and_query_are_the_embedders_vectors(minilm):
    embeddings = EmbedrtEmbeddings(embedder=minilm)
    assert isinstance(embeddings, Embeddings)
    docs = ["A man is eating food.", "A cat sleeps on the sofa.", "The stock market fell."]
    got = embeddings.embed_documents(docs)
    assert isinstance(got, list) and all(isinstance(v, list) for v in got)
    assert isinstance(got[0][0], float)
    assert np.array_equal(np.array(got, dtype=np.float32), minilm.encode(docs))
    query = embeddings.embed_query("Who is eating?")
    assert np.array_equal(np.array(query, dtype=np.float32), minilm.encode("Who is eating?"))


def test_query_and_document_prompts_match_sentence_transformers():
    fixture = require(TEST_DATA / "embeddings" / "tiny-prompts" / "meta.json").parent
    meta = json.loads((fixture / "meta.json").read_text())
    texts = [r["text"] for r in read_jsonl(fixture / "texts.jsonl")][:50]
    reference = np.load(fixture / "embeddings.npy")[:50]  # sentence-transformers, prompt "query"
    embeddings = EmbedrtEmbeddings(str(require(TINY_PROMPTS)), query_prompt_name="query",
                                   document_prompt="passage: ")
    queries = np.array([embeddings.embed_query(t) for t in texts], dtype=np.float32)
    assert cosines(queries, reference).min() >= 0.99999
    documents = np.array(embeddings.embed_documents(texts), dtype=np.float32)
    direct = embedrt.Embedder(str(TINY_PROMPTS)).encode(texts, prompt="passage: ")
    assert np.array_equal(documents, direct)
    assert not np.allclose(documents, queries)


def test_vector_store_retrieval(minilm):
    store = InMemoryVectorStore(EmbedrtEmbeddings(embedder=minilm))
    store.add_texts(["A man is playing a guitar.", "The new movie is awesome.",
                     "A cheetah is running behind its prey."])
    best = store.similarity_search("Someone plays an instrument", k=1)[0]
    assert best.page_content == "A man is playing a guitar."


def test_bad_arguments():
    with pytest.raises(TypeError):
        EmbedrtEmbeddings()
    with pytest.raises(embedrt.EmbedrtIOError, match="no-such-model"):
        EmbedrtEmbeddings("no-such-model")
    with pytest.raises(TypeError):
        EmbedrtEmbeddings(str(require(MINILM))).embed_query(["not", "a", "str"])


def test_rerank_compressor_orders_by_reranker_score():
    from langchain_core.documents import BaseDocumentCompressor, Document
    from embedrt.integrations.langchain import EmbedrtRerank
    path = require(TEST_DATA / "reranker-models" / "tiny-bert-ce-1")
    texts = [r["document"] for r in read_jsonl(path / "reference.jsonl")[:12]]
    documents = [Document(page_content=t, metadata={"source": i}) for i, t in enumerate(texts)]
    reranker = embedrt.Reranker(str(path))
    compressor = EmbedrtRerank(reranker=reranker, top_n=4)
    assert isinstance(compressor, BaseDocumentCompressor)
    query = "Who plays the guitar?"
    got = compressor.compress_documents(documents, query)
    expected = reranker.rank(query, texts, top_k=4)
    assert [d.metadata["source"] for d in got] == [r["corpus_id"] for r in expected]
    assert [d.metadata["relevance_score"] for d in got] == [r["score"] for r in expected]
    assert [d.page_content for d in got] == [texts[r["corpus_id"]] for r in expected]
    assert "relevance_score" not in documents[0].metadata  # the input is left as it was
    everything = EmbedrtRerank(str(path), top_n=None).compress_documents(documents, query)
    assert len(everything) == len(documents)
    assert compressor.compress_documents([], query) == []
    with pytest.raises(TypeError):
        EmbedrtRerank()
    with pytest.raises(embedrt.InvalidArgumentError):  # a classifier cannot rank
        EmbedrtRerank(str(TEST_DATA / "reranker-models" / "tiny-bert-ce-3")).compress_documents(
            documents, query)
