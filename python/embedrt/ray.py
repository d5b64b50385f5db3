"""Embedding a Ray Dataset on a cluster: an actor pool in which each actor loads the model once.

    import ray, embedrt.ray
    ds = ray.data.read_parquet("corpus/")
    ds = embedrt.ray.embed(ds, "all-MiniLM-L6-v2", text_column="text", concurrency=8)
    ds.write_parquet("embedded/")

Needs ``ray[data]`` and ``pyarrow`` (``pip install embedrt[ray]``). The model must be where every
node can load it (the same path or name on each node: embedrt does not download).
"""
from __future__ import annotations

from typing import Any, Optional, Union

from .errors import InvalidArgumentError

__all__ = ["embed"]


class _EmbedBatches:
    """One actor of the pool: the model loaded once, with as many engine threads as the actor
    has CPUs; each call embeds one batch (a pyarrow Table) and appends the vector column."""

    def __init__(self, model: str, text_column: str, output_column: str,
                 encode_options: dict, embedder_options: dict):
        import ray
        from . import Embedder

        options = dict(embedder_options)
        if not options.get("threads"):
            cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
            options["threads"] = max(1, int(cpus))
        self._embedder = Embedder(model, **options)
        self._text_column = text_column
        self._output_column = output_column
        self._encode_options = encode_options

    def __call__(self, batch):
        import pyarrow as pa

        if self._text_column not in batch.column_names:
            raise InvalidArgumentError(f"no column '{self._text_column}' in the dataset "
                                       f"(columns: {', '.join(batch.column_names)})")
        if self._output_column in batch.column_names:
            raise InvalidArgumentError(f"the dataset already has a column '{self._output_column}'"
                                       " (choose another output_column)")
        column = batch.column(self._text_column)
        if column.null_count:
            raise InvalidArgumentError(f"column '{self._text_column}' holds {column.null_count} "
                                       "null value(s) among its texts")
        vectors = self._embedder.encode(column.to_pylist(), **self._encode_options)
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        embeddings = pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])
        return batch.append_column(self._output_column, embeddings)


def embed(dataset: Any, model: Union[str, "os.PathLike[str]"], text_column: str = "text",
          output_column: str = "embedding", *, concurrency: int = 1, batch_size: int = 256,
          num_cpus_per_actor: float = 1, prompt_name: Optional[str] = None,
          prompt: Optional[str] = None, normalize_embeddings: Optional[bool] = None,
          **embedder_options: Any):
    """Returns ``dataset`` with ``output_column`` added (a fixed-size list of float32 per row) and
    every other column kept.

    Args:
        dataset: a ``ray.data.Dataset``.
        model: as :class:`embedrt.Embedder` takes it, loadable on every node.
        text_column: the column of texts (str, no nulls).
        output_column: the new column's name (must not exist yet).
        concurrency: actors in the pool, each holding one loaded model.
        batch_size: rows per call of an actor (also the most texts per model batch).
        num_cpus_per_actor: CPUs Ray reserves for each actor; its engine uses that many threads
            (at least 1, unless ``threads`` is given). Leave the cluster CPUs for the read and
            write tasks: actors holding every CPU would starve them (on two CPUs, two actors of
            0.5 CPU each run one thread each and leave one CPU to read and write).
        prompt_name, prompt, normalize_embeddings: as for :meth:`embedrt.Embedder.encode`.
        embedder_options: further :class:`embedrt.Embedder` options (``precision``,
            ``optimize``, ``max_seq_length``, ...).

    The vectors are those of :meth:`embedrt.Embedder.encode` in one process, bit for bit (in
    deterministic mode, the default). An actor that dies is replaced and its batch run again.
    """
    import os

    import ray.data

    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidArgumentError(f"concurrency must be a positive int, got {concurrency!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be a positive int, got {batch_size!r}")
    encode_options = {"batch_size": batch_size, "prompt_name": prompt_name, "prompt": prompt,
                      "normalize_embeddings": normalize_embeddings}
    return dataset.map_batches(
        _EmbedBatches,
        fn_constructor_kwargs={"model": model, "text_column": text_column,
                               "output_column": output_column, "encode_options": encode_options,
                               "embedder_options": embedder_options},
        batch_size=batch_size, batch_format="pyarrow",
        # Ray Data's actor pools restart a dead actor and retry the batch it had (max_restarts
        # and max_task_retries default to -1 there), so no row is lost; a batch's output is kept
        # only once it completed, so none is doubled.
        compute=ray.data.ActorPoolStrategy(size=concurrency), num_cpus=num_cpus_per_actor)
