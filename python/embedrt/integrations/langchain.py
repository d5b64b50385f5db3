"""LangChain embeddings and reranking backed by embedrt (``pip install embedrt[langchain]``).

    from embedrt.integrations.langchain import EmbedrtEmbeddings, EmbedrtRerank
    embeddings = EmbedrtEmbeddings(model="intfloat/multilingual-e5-base",
                                   query_prompt="query: ", document_prompt="passage: ")
    vectors = embeddings.embed_documents(["A man is eating.", "A cat sleeps."])
    query = embeddings.embed_query("Who is eating?")

    rerank = EmbedrtRerank(model="cross-encoder/ms-marco-MiniLM-L-6-v2", top_n=3)
    best = rerank.compress_documents(documents, "Who is eating?")  # with metadata relevance_score
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.embeddings import Embeddings
from pydantic import ConfigDict

from .. import Embedder, Reranker

__all__ = ["EmbedrtEmbeddings", "EmbedrtRerank"]


class EmbedrtEmbeddings(Embeddings):
    """``langchain_core.embeddings.Embeddings`` computed by an :class:`embedrt.Embedder`.

    Args:
        model: as :class:`embedrt.Embedder` takes it; or pass a loaded ``embedder``.
        embedder: an already loaded :class:`embedrt.Embedder` to share.
        query_prompt / query_prompt_name: the prompt for :meth:`embed_query` (text, or a name
            from the model's config_sentence_transformers.json).
        document_prompt / document_prompt_name: the same for :meth:`embed_documents`.
        batch_size, normalize_embeddings: as for :meth:`embedrt.Embedder.encode`.
        embedder_options: further :class:`embedrt.Embedder` options (``precision``,
            ``threads``, ...).

    With no prompt given, the model's default prompt (if it has one) applies to both.
    """

    def __init__(self, model: Optional[str] = None, *, embedder: Optional[Embedder] = None,
                 query_prompt: Optional[str] = None, query_prompt_name: Optional[str] = None,
                 document_prompt: Optional[str] = None,
                 document_prompt_name: Optional[str] = None, batch_size: Optional[int] = None,
                 normalize_embeddings: Optional[bool] = None, **embedder_options: Any):
        if (model is None) == (embedder is None):
            raise TypeError("give either model or embedder")
        self.embedder = embedder if embedder is not None else Embedder(model, **embedder_options)
        self.query_prompt, self.query_prompt_name = query_prompt, query_prompt_name
        self.document_prompt, self.document_prompt_name = document_prompt, document_prompt_name
        self.batch_size = batch_size
        self.normalize_embeddings = normalize_embeddings

    def embed_documents(self, texts: List[str]) -> List[List[float]]:
        vectors = self.embedder.encode(list(texts), batch_size=self.batch_size,
                                       normalize_embeddings=self.normalize_embeddings,
                                       prompt=self.document_prompt,
                                       prompt_name=self.document_prompt_name)
        return vectors.tolist()

    def embed_query(self, text: str) -> List[float]:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, not {type(text).__name__}")
        vector = self.embedder.encode([text], batch_size=self.batch_size,
                                      normalize_embeddings=self.normalize_embeddings,
                                      prompt=self.query_prompt,
                                      prompt_name=self.query_prompt_name)
        return vector[0].tolist()


class EmbedrtRerank(BaseDocumentCompressor):
    """A ``langchain_core`` document compressor that reorders documents by an
    :class:`embedrt.Reranker`'s score for the query (:meth:`embedrt.Reranker.rank`), best first,
    keeping ``top_n``; each returned document is a copy with the score in
    ``metadata["relevance_score"]`` (as LangChain's CohereRerank). Use it in a
    ``ContextualCompressionRetriever``.

    Args:
        model: as :class:`embedrt.Reranker` takes it (a one-label cross-encoder); or pass a
            loaded ``reranker``.
        reranker: an already loaded :class:`embedrt.Reranker` to share.
        top_n: most documents returned (None = all), as CrossEncoderReranker's ``top_n``.
        reranker_options: further :class:`embedrt.Reranker` options (``precision``,
            ``threads``, ...).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    reranker: Reranker
    top_n: Optional[int] = 3

    def __init__(self, model: Optional[str] = None, *, reranker: Optional[Reranker] = None,
                 top_n: Optional[int] = 3, **reranker_options: Any):
        if (model is None) == (reranker is None):
            raise TypeError("give either model or reranker")
        if reranker is None:
            reranker = Reranker(model, **reranker_options)
        super().__init__(reranker=reranker, top_n=top_n)

    def compress_documents(self, documents: Sequence[Document], query: str,
                           callbacks: Callbacks = None) -> Sequence[Document]:
        if not documents:
            return []
        ranked = self.reranker.rank(query, [d.page_content for d in documents], top_k=self.top_n)
        out = []
        for r in ranked:
            doc = documents[r["corpus_id"]]
            out.append(Document(page_content=doc.page_content, id=doc.id,
                                metadata={**doc.metadata, "relevance_score": r["score"]}))
        return out
