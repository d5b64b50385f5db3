"""embedrt.ray.embed on a local Ray cluster of two CPUs: Parquet in, Parquet out, the vectors of a
one-process encode() bit for bit, and an actor killed mid-run replaced without losing or doubling
a row."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import embedrt  # noqa: E402
import embedrt.ray  # noqa: E402
from conftest import MINILM, ROOT, TEST_DATA, corpus_texts, require  # noqa: E402

TINY = TEST_DATA / "tiny-models" / "tiny-mean"


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield
    ray.shutdown()


def write_corpus(folder: Path, texts, files: int = 3):
    """`texts` as `files` Parquet files with an id, the text and one more column."""
    folder.mkdir()
    ids = np.arange(len(texts), dtype=np.int64)
    for k, part in enumerate(np.array_split(ids, files)):
        table = pa.table({"id": pa.array(part), "text": [texts[i] for i in part],
                          "source": [f"doc-{i % 7}" for i in part]})
        pq.write_table(table, folder / f"part-{k}.parquet")
    return ids


def read_folder(folder: Path):
    return pa.concat_tables([pq.read_table(p) for p in sorted(folder.glob("*.parquet"))])


def test_parquet_folder_in_and_out(cluster, tmp_path):
    texts = corpus_texts(300, seed=9)
    write_corpus(tmp_path / "in", texts)
    ds = ray.data.read_parquet(str(tmp_path / "in"))
    # Half a CPU per actor (one engine thread each) leaves the cluster's other CPU to the read
    # and write tasks; with both CPUs held by actors those could never be scheduled.
    embedded = embedrt.ray.embed(ds, str(require(TINY)), concurrency=2, batch_size=32,
                                 num_cpus_per_actor=0.5)
    embedded.write_parquet(str(tmp_path / "out"))

    out = read_folder(tmp_path / "out")
    assert out.num_rows == len(texts)
    assert set(out.column_names) == {"id", "text", "source", "embedding"}
    ids = out.column("id").to_numpy()
    assert sorted(ids.tolist()) == list(range(len(texts)))  # none lost, none doubled
    assert [texts[i] for i in ids] == out.column("text").to_pylist()
    assert out.column("source").to_pylist() == [f"doc-{i % 7}" for i in ids]
    vectors = np.stack(out.column("embedding").to_numpy(zero_copy_only=False)).astype(np.float32)
    expected = embedrt.Embedder(str(TINY)).encode(texts)
    assert np.array_equal(vectors, expected[ids])  # bit-identical to one process


def test_bad_columns_are_named(cluster):
    ds = ray.data.from_items([{"body": "x"}])
    with pytest.raises(Exception, match="no column 'text'"):
        embedrt.ray.embed(ds, str(require(TINY))).take_all()
    with pytest.raises(embedrt.InvalidArgumentError, match="concurrency"):
        embedrt.ray.embed(ds, str(TINY), concurrency=0)


def embed_workers():
    """PIDs of the actor processes of embedrt's pool (Ray titles them after the class)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if cmdline.startswith(b"ray::MapWorker(MapBatches(_EmbedBatches))"):
            pids.append(int(entry))
    return pids


def test_killed_actor_is_replaced_without_losing_rows(cluster):
    texts = corpus_texts(240, seed=13)
    ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(texts)])
    embedded = embedrt.ray.embed(ds, str(require(MINILM)), concurrency=2, batch_size=8)
    rows, killed = [], []
    for batch in embedded.iter_batches(batch_size=None, batch_format="pyarrow"):
        rows.append(batch)
        if not killed:  # the pool is running: kill one of its actors mid-run
            workers = embed_workers()
            assert workers, "no embedrt actor process found"
            os.kill(workers[0], signal.SIGKILL)
            killed.append(workers[0])
    out = pa.concat_tables(rows)
    ids = out.column("id").to_pylist()
    assert len(ids) == len(texts) and sorted(ids) == list(range(len(texts)))
    assert killed and killed[0] not in embed_workers()
    vectors = np.stack(out.column("embedding").to_numpy(zero_copy_only=False)).astype(np.float32)
    expected = embedrt.Embedder(str(MINILM)).encode(texts)
    assert np.array_equal(vectors, expected[np.array(ids)])


def test_example_script(cluster, tmp_path):
    """examples/ray_embed_parquet.py as a user runs it, on the cluster at RAY_ADDRESS."""
    texts = corpus_texts(120, seed=17)
    write_corpus(tmp_path / "in", texts, files=2)
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "ray_embed_parquet.py"), str(tmp_path / "in"),
         str(tmp_path / "out"), "--model", str(require(TINY)), "--concurrency", "2",
         "--cpus-per-actor", "0.5"],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "120 rows" in result.stdout
    out = read_folder(tmp_path / "out")
    assert sorted(out.column("id").to_pylist()) == list(range(120))
    assert out.schema.field("embedding").type == pa.list_(pa.float32(), 32)
