"""embedrt: sentence embeddings from a native engine, with sentence-transformers' ``encode()``.

    import embedrt
    model = embedrt.Embedder("all-MiniLM-L6-v2")
    vectors = model.encode(["A man is eating.", "A cat sleeps."])   # float32 [2, 384]

``model`` takes what ``embedrt --model`` takes: a model folder, the name of one under
``$EMBEDRT_HOME/models`` or a Hugging Face id in the local Hugging Face cache. An Embedder may be
shared between threads; ``encode()`` releases the GIL while the engine runs.
"""
from __future__ import annotations

import json
import sys
import warnings
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from .errors import (EmbedrtIOError, Error, InputTooLongError, InternalError,
                     InvalidArgumentError, InvalidModelError, UnsupportedError)
from . import _embedrt

__version__: str = _embedrt.__version__

__all__ = ["Embedder", "Error", "InvalidArgumentError", "InputTooLongError", "InvalidModelError",
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

    def encode(self, sentences: Union[str, Sequence[str]], batch_size: int = 32,
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
            batch_size: most texts per model batch (texts are sorted by length and packed
                without padding; in deterministic mode the vectors do not depend on it).
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
