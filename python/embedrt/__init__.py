"""embedrt: sentence embeddings from a native engine, with sentence-transformers' ``encode()``.

    import embedrt
    model = embedrt.Embedder("all-MiniLM-L6-v2")
    vectors = model.encode(["A man is eating.", "A cat sleeps."])   # float32 [2, 384]

:class:`Reranker` scores (query, document) pairs as sentence-transformers' ``CrossEncoder`` does,
:class:`SparseEncoder` gives SPLADE vectors as its ``SparseEncoder`` does, and
:func:`detect_model_kind` tells which of the three classes a model folder is for.

``model`` takes what ``embedrt --model`` takes: a model folder, the name of one under
``$EMBEDRT_HOME/models`` or a Hugging Face id in the local Hugging Face cache. An Embedder may be
shared between threads; ``encode()`` releases the GIL while the engine runs (as do the other
classes' model calls).
"""
from __future__ import annotations

import json
import os
import sys
import warnings
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from .errors import (EmbedrtIOError, Error, InputTooLongError, InternalError,
                     InvalidArgumentError, InvalidModelError, UnsupportedError)
from . import _embedrt

__version__: str = _embedrt.__version__

__all__ = ["Embedder", "Reranker", "SparseEncoder", "detect_model_kind", "Error", "InvalidArgumentError", "InputTooLongError", "InvalidModelError",
           "UnsupportedError", "EmbedrtIOError", "InternalError", "__version__"]


def _optional_int(value: Optional[int], name: str, minimum: int) -> int:
    """An optional non-negative integer option as the engine takes it (None -> 0)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise InvalidArgumentError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _optional_bool(value: Optional[bool], name: str) -> Optional[bool]:
    if value is not None and not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool or None, not {type(value).__name__}")
    return None if value is None else bool(value)


def _optional_str(value: Optional[str], name: str) -> str:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, not {type(value).__name__}")
    return value or ""


def _float_matrix(value: Any, name: str) -> Optional[np.ndarray]:
    """A 2-D float32 C-contiguous copy (or view) of an array-like, or None."""
    if value is None:
        return None
    array = np.ascontiguousarray(value, dtype=np.float32)
    if array.ndim != 2:
        raise InvalidArgumentError(f"{name} must be 2-dimensional, not {array.ndim}-dimensional")
    return array


class _ProgressBar:
    """tqdm when it is installed, else a plain counter on standard error."""

    def __init__(self, total: int):
        try:
            from tqdm.auto import tqdm
            self._bar = tqdm(total=total, desc="Batches", unit="text")
        except ImportError:
            self._bar = None
        self._total, self._done = total, 0

    def __call__(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(done - self._done)
        else:
            sys.stderr.write(f"\rembedrt: {done}/{self._total} texts")
            sys.stderr.flush()
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._done:
            sys.stderr.write("\n")


class Embedder:
    """A loaded embedding model.

    Args:
        model: a model folder, the name of one under ``$EMBEDRT_HOME/models`` or a Hugging Face
            id ``org/name[@revision]`` in the local Hugging Face cache (nothing is downloaded).
        precision: what the matmuls compute in: ``"fp32"``, ``"bf16"`` or ``"int8"``; None = the
            optimize mode's (fp32 in ``balanced``).
        threads: engine threads; 0 = all cores this process may use.
        optimize: ``"balanced"``, ``"throughput"``, ``"latency"`` or ``"memory"``.
        max_seq_length: tokens per text, special tokens included; None = the model's.
        max_batch_tokens: token budget per model batch; None = the optimize mode's.
        cache_mb: embedding cache for repeated texts in MiB (0 = off); None = the mode's.
        deterministic: bit-identical vectors whatever the batch composition; None = the mode's.
        pooling: override the model's pooling (``cls``, ``mean``, ``max``, ...).
        normalize: L2-normalize by default (None = as the model's modules say).
        on_overflow: ``"truncate"`` texts longer than ``max_seq_length`` (as
            sentence-transformers does) or raise :class:`InputTooLongError` (``"error"``).
        truncate_dim: keep the first N values of every embedding (Matryoshka), renormalized
            when the model normalizes; None = the model's truncate_dim, else its dimension.

    Raises:
        EmbedrtIOError: the model was not found; InvalidModelError: its files are wrong;
        InvalidArgumentError: an option is out of range.
    """

    def __init__(self, model: str, precision: Optional[str] = None, threads: int = 0,
                 optimize: str = "balanced", *, max_seq_length: Optional[int] = None,
                 max_batch_tokens: Optional[int] = None, cache_mb: Optional[int] = None,
                 deterministic: Optional[bool] = None, pooling: Optional[str] = None,
                 normalize: Optional[bool] = None, on_overflow: str = "truncate",
                 truncate_dim: Optional[int] = None):
        if hasattr(model, "__fspath__"):
            model = model.__fspath__()
        if not isinstance(model, str):
            raise TypeError(f"model must be a str or a path, not {type(model).__name__}")
        if precision is not None and not isinstance(precision, str):
            raise TypeError(f"precision must be a str or None, not {type(precision).__name__}")
        if not isinstance(optimize, str):
            raise TypeError(f"optimize must be a str, not {type(optimize).__name__}")
        if not isinstance(on_overflow, str):
            raise TypeError(f"on_overflow must be a str, not {type(on_overflow).__name__}")
        self._native = _embedrt.load(
            model, precision, _optional_int(threads, "threads", 0), optimize,
            _optional_int(max_seq_length, "max_seq_length", 1), 0,
            _optional_int(max_batch_tokens, "max_batch_tokens", 1),
            None if cache_mb is None else _optional_int(cache_mb, "cache_mb", 0),
            _optional_bool(deterministic, "deterministic"), _optional_str(pooling, "pooling"),
            _optional_bool(normalize, "normalize"), on_overflow,
            None if truncate_dim is None else _optional_int(truncate_dim, "truncate_dim", 1))
        self._model = model
        self.profile: Optional[Dict[str, Any]] = None

    @property
    def dimension(self) -> int:
        """Length of each embedding."""
        return self._native.dimension

    @property
    def max_seq_length(self) -> int:
        """Most tokens per text (special tokens included); longer texts are truncated."""
        return self._native.max_seq_length

    def get_sentence_embedding_dimension(self) -> int:
        """The embedding length (sentence-transformers' name for :attr:`dimension`)."""
        return self._native.dimension

    def info(self) -> Dict[str, Any]:
        """The model and the resolved engine settings, as ``embedrt info`` shows them."""
        return self._native.info()

    def tokenize(self, texts: Union[str, Sequence[str]]) -> Dict[str, np.ndarray]:
        """Token ids as the encoder sees them (stripped, lowercased if the model does, truncated).

        Returns ``input_ids``, ``token_type_ids`` and ``attention_mask`` as int64 arrays
        [N, longest], padded with 0 where ``attention_mask`` is 0.
        """
        if isinstance(texts, str):
            texts = [texts]
        return self._native.tokenize(texts)

    def encode(self, sentences: Union[str, Sequence[str]], batch_size: Optional[int] = None,
               normalize_embeddings: Optional[bool] = None, prompt_name: Optional[str] = None,
               prompt: Optional[str] = None, show_progress_bar: bool = False,
               dimensions: Optional[int] = None, output_precision: str = "float32",
               quantization_ranges: Optional[np.ndarray] = None,
               calibration_embeddings: Optional[np.ndarray] = None,
               profile: bool = False) -> np.ndarray:
        """Embeds texts; returns a C-contiguous float32 array [N, D] in input order ([D] for one
        str), or a quantized one for the other output precisions.

        Args:
            sentences: a str or a sequence of str.
            batch_size: most texts per model batch; None = the optimize mode's (128 in
                balanced). Texts are sorted by length and packed without padding, so the token
                budget bounds memory; in deterministic mode the vectors do not depend on it.
            normalize_embeddings: True or False override the model's normalization; None keeps
                it (sentence-transformers' False keeps a model's own Normalize module; here
                False removes it).
            prompt_name: a prompt from the model's config_sentence_transformers.json; None = its
                default prompt, if any.
            prompt: text prepended to every sentence (wins over prompt_name).
            show_progress_bar: report progress on standard error.
            dimensions: keep the first N values (Matryoshka truncation; renormalized when the
                embeddings are normalized); None = the Embedder's ``truncate_dim``.
            output_precision: ``"float32"``, or quantized as sentence-transformers'
                ``quantize_embeddings``: ``"int8"`` / ``"uint8"`` ([N, D] of those types),
                ``"binary"`` / ``"ubinary"`` (packed bits, [N, ceil(D / 8)] int8 / uint8).
            quantization_ranges: int8/uint8 only: per-dimension minimum and maximum, [2, D].
            calibration_embeddings: int8/uint8 only: float embeddings [M, D] whose ranges to
                use. With neither, the ranges are those of the embeddings being quantized (as
                sentence-transformers does), so a row's bytes depend on the other texts.
            profile: record where time and memory went in :attr:`profile` (a dict).

        Raises:
            TypeError: sentences is not a str or a sequence of str.
            InvalidArgumentError: a text cannot be encoded as UTF-8 (a lone surrogate), an
                unknown prompt name, or an option out of range.
            InputTooLongError: a text is too long and the model was loaded with
                ``on_overflow="error"``.
        """
        single = isinstance(sentences, str)
        if single:
            sentences = [sentences]
        if prompt is not None and prompt_name is not None:
            warnings.warn("both prompt and prompt_name given; prompt_name is ignored",
                          stacklevel=2)
        batch = _optional_int(batch_size, "batch_size", 1)
        if not isinstance(output_precision, str):
            raise TypeError("output_precision must be a str, not "
                            f"{type(output_precision).__name__}")
        ranges = _float_matrix(quantization_ranges, "quantization_ranges")
        calibration = _float_matrix(calibration_embeddings, "calibration_embeddings")
        dims = None if dimensions is None else _optional_int(dimensions, "dimensions", 1)
        bar = _ProgressBar(len(sentences)) if show_progress_bar else None
        try:
            vectors, profile_json = self._native.encode(
                sentences, _optional_bool(normalize_embeddings, "normalize_embeddings"),
                _optional_str(prompt_name, "prompt_name"), _optional_str(prompt, "prompt"),
                batch, bool(profile), bar, dims, output_precision, ranges, calibration)
        finally:
            if bar is not None:
                bar.close()
        if profile_json is not None:
            self.profile = json.loads(profile_json)
        return vectors[0] if single else vectors

    def __repr__(self) -> str:
        return f"embedrt.Embedder({self._model!r}, dimension={self.dimension})"


def _model_path(model: Any) -> str:
    if hasattr(model, "__fspath__"):
        model = model.__fspath__()
    if not isinstance(model, str):
        raise TypeError(f"model must be a str or a path, not {type(model).__name__}")
    return model


def _load_args(model: Any, precision: Optional[str], threads: int, optimize: str,
               max_seq_length: Optional[int], batch_size: Optional[int],
               max_batch_tokens: Optional[int]) -> tuple:
    """The checked arguments of the native loaders of Reranker and SparseEncoder."""
    if precision is not None and not isinstance(precision, str):
        raise TypeError(f"precision must be a str or None, not {type(precision).__name__}")
    if not isinstance(optimize, str):
        raise TypeError(f"optimize must be a str, not {type(optimize).__name__}")
    return (_model_path(model), precision, _optional_int(threads, "threads", 0), optimize,
            _optional_int(max_seq_length, "max_seq_length", 1),
            _optional_int(batch_size, "batch_size", 1),
            _optional_int(max_batch_tokens, "max_batch_tokens", 1))


def detect_model_kind(model: Union[str, "os.PathLike[str]"]) -> str:
    """What a model folder holds, read from its files without loading weights.

    Returns ``"embedding"`` (load it with :class:`Embedder`), ``"reranker"`` (a one-label
    cross-encoder: :class:`Reranker`), ``"classifier"`` (a cross-encoder with several labels:
    :meth:`Reranker.predict`) or ``"sparse"`` (SPLADE: :class:`SparseEncoder`). ``model`` as
    :class:`Embedder` takes it.

    Raises:
        EmbedrtIOError: the model was not found; InvalidModelError: a config file or label field
        cannot be read.
    """
    return _embedrt.detect_model_kind(_model_path(model))


def _is_pair(value: Any) -> bool:
    return (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, str) for v in value))


class Reranker:
    """A loaded cross-encoder: scores (query, document) pairs exactly as sentence-transformers'
    ``CrossEncoder.predict`` does (sigmoid for one label, the logits for several, or the model's
    ``activation_fn`` from config_sentence_transformers.json).

    Loads a sentence-transformers CrossEncoder folder or a plain Hugging Face
    ``*ForSequenceClassification`` folder (BERT, XLM-RoBERTa, ModernBERT, MPNet, ...).

    Args:
        model: as :class:`Embedder` takes it.
        precision: ``"fp32"``, ``"bf16"`` or ``"int8"``; None = the optimize mode's.
        threads: engine threads; 0 = all cores this process may use.
        optimize: ``"balanced"``, ``"throughput"``, ``"latency"`` or ``"memory"``.
        max_seq_length: tokens per pair, special tokens included; longer pairs are truncated
            longest-first, as CrossEncoder truncates them. None = the model's.
        batch_size: most pairs per model batch; None = the optimize mode's. Scores do not depend
            on it.
        max_batch_tokens: token budget per model batch; None = the optimize mode's.

    Raises:
        EmbedrtIOError: the model was not found; InvalidModelError: its files are wrong (or it is
        not a cross-encoder); InvalidArgumentError: an option is out of range.
    """

    def __init__(self, model: str, precision: Optional[str] = None, threads: int = 0,
                 optimize: str = "balanced", *, max_seq_length: Optional[int] = None,
                 batch_size: Optional[int] = None, max_batch_tokens: Optional[int] = None):
        args = _load_args(model, precision, threads, optimize, max_seq_length, batch_size,
                          max_batch_tokens)
        self._native = _embedrt.load_reranker(*args)
        self._model = args[0]

    @property
    def num_labels(self) -> int:
        """Scores per pair (1 for a reranker)."""
        return self._native.num_labels

    @property
    def max_seq_length(self) -> int:
        """Most tokens per pair (special tokens included); longer pairs are truncated."""
        return self._native.max_seq_length

    def info(self) -> Dict[str, Any]:
        """The model and the resolved engine settings, with ``labels`` and ``activation``."""
        return self._native.info()

    def predict(self, pairs: Union[Sequence[Sequence[str]], Sequence[str]],
                raw: bool = False) -> np.ndarray:
        """Scores pairs; a float32 array [N] for a one-label model, else [N, labels], in input
        order (as ``CrossEncoder.predict``). One pair (a 2-tuple of str) gives one score (a
        float32 scalar) or one row [labels].

        Args:
            pairs: a sequence of (query, document) pairs (tuples or lists of two str).
            raw: the logits, without the model's activation (CrossEncoder's
                ``activation_fn=torch.nn.Identity()``).

        Raises:
            TypeError: an item is not a pair of str.
            InvalidArgumentError: a text cannot be encoded as UTF-8 (a lone surrogate).
        """
        single = _is_pair(pairs)
        if single:
            pairs = [pairs]
        scores = self._native.predict(pairs, bool(raw))
        if scores.shape[1] == 1:
            scores = scores.reshape(-1)
        return scores[0] if single else scores

    def rank(self, query: str, documents: Sequence[str], top_k: Optional[int] = None,
             return_documents: bool = False, raw: bool = False) -> List[Dict[str, Any]]:
        """The documents sorted by their score for ``query``, best first (ties keep input order),
        as ``CrossEncoder.rank``: a list of ``{"corpus_id": index in documents, "score": float}``
        with ``"text"`` (the document) when ``return_documents``; at most ``top_k`` of them
        (None = all).

        Raises:
            TypeError: query is not a str or documents not a sequence of str.
            InvalidArgumentError: the model has more than one label (use :meth:`predict`), or
                top_k is below 1.
        """
        if not isinstance(query, str):
            raise TypeError(f"query must be a str, not {type(query).__name__}")
        k = 0 if top_k is None else _optional_int(top_k, "top_k", 1)
        ranked = self._native.rank(query, documents, k, bool(raw))
        if return_documents:
            return [{"corpus_id": i, "score": s, "text": documents[i]} for i, s in ranked]
        return [{"corpus_id": i, "score": s} for i, s in ranked]

    def __repr__(self) -> str:
        return f"embedrt.Reranker({self._model!r}, num_labels={self.num_labels})"


class SparseEncoder:
    """A loaded SPLADE model: sparse vocabulary-sized vectors exactly as sentence-transformers'
    ``SparseEncoder.encode`` gives them (a sentence-transformers folder whose modules.json lists
    MLMTransformer and SpladePooling).

    Args: as :class:`Reranker` (``max_seq_length`` truncates texts, as sentence-transformers
    does).
    """

    def __init__(self, model: str, precision: Optional[str] = None, threads: int = 0,
                 optimize: str = "balanced", *, max_seq_length: Optional[int] = None,
                 batch_size: Optional[int] = None, max_batch_tokens: Optional[int] = None):
        args = _load_args(model, precision, threads, optimize, max_seq_length, batch_size,
                          max_batch_tokens)
        self._native = _embedrt.load_sparse_encoder(*args)
        self._model = args[0]

    @property
    def vocab_size(self) -> int:
        """The vectors' dimension (the model's vocabulary size)."""
        return self._native.vocab_size

    @property
    def max_seq_length(self) -> int:
        """Most tokens per text (special tokens included); longer texts are truncated."""
        return self._native.max_seq_length

    def info(self) -> Dict[str, Any]:
        """The model and the resolved engine settings; ``pooling`` names the SPLADE pooling."""
        return self._native.info()

    def encode(self, sentences: Union[str, Sequence[str]], top_k: Optional[int] = None,
               prompt: Optional[str] = None, output: str = "auto") -> Any:
        """Encodes texts as sparse vectors over the vocabulary, in input order.

        The result, by ``output``:

        - ``"csr"``: a ``scipy.sparse.csr_matrix`` of float32, shape [N, vocab_size] (one row
          for a single str), the non-zeros of each row in ascending column (token id) order.
          ``.toarray()`` equals sentence-transformers' ``encode(...).to_dense()``.
        - ``"lists"``: per text, a tuple ``(indices, values)`` of an int32 and a float32 array,
          indices ascending (one tuple for a single str).
        - ``"auto"`` (default): ``"csr"`` when scipy is installed, else ``"lists"``.

        Args:
            sentences: a str or a sequence of str.
            top_k: keep each vector's k largest values (ties: the lower token id), as
                sentence-transformers' ``max_active_dims``; None = all non-zeros.
            prompt: text prepended to every sentence.
            output: ``"auto"``, ``"csr"`` or ``"lists"``.

        Raises:
            TypeError: sentences is not a str or a sequence of str.
            InvalidArgumentError: a text cannot be encoded as UTF-8, top_k is below 1, or
                output is not one of the above.
            ImportError: ``output="csr"`` without scipy.
        """
        if output not in ("auto", "csr", "lists"):
            raise InvalidArgumentError(f"output '{output}' is not one of auto, csr, lists")
        single = isinstance(sentences, str)
        if single:
            sentences = [sentences]
        k = 0 if top_k is None else _optional_int(top_k, "top_k", 1)
        indptr, indices, values = self._native.encode(sentences, k,
                                                      _optional_str(prompt, "prompt"))
        if output == "auto":
            try:
                import scipy.sparse  # noqa: F401
                output = "csr"
            except ImportError:
                output = "lists"
        if output == "csr":
            import scipy.sparse
            return scipy.sparse.csr_matrix((values, indices, indptr),
                                           shape=(len(indptr) - 1, self.vocab_size))
        rows = [(indices[b:e], values[b:e]) for b, e in zip(indptr[:-1], indptr[1:])]
        return rows[0] if single else rows

    def __repr__(self) -> str:
        return f"embedrt.SparseEncoder({self._model!r}, vocab_size={self.vocab_size})"
