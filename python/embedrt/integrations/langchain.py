"""LangChain embeddings backed by embedrt (``pip install embedrt[langchain]``).

    from embedrt.integrations.langchain import EmbedrtEmbeddings
    embeddings = EmbedrtEmbeddings(model="intfloat/multilingual-e5-base",
                                   query_prompt="query: ", document_prompt="passage: ")
    vectors = embeddings.embed_documents(["A man is eating.", "A cat sleeps."])
    query = embeddings.embed_query("Who is eating?")
"""
from __future__ import annotations

from typing import Any, List, Optional

from langchain_core.embeddings import Embeddings

from .. import Embedder

__all__ = ["EmbedrtEmbeddings"]


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
                 document_prompt_name: Optional[str] = None, batch_size: int = 32,
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
