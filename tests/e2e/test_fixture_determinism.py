"""The generated fixtures are reproducible: the corpus, the trained test tokenizers, their
alignment cases and the tiny random models of every family come out byte-identical whether the generators run on
one thread or two, and identical to the fixtures the rest of the suite reads. Expectations in the
tests are derived from these files, so a fixture that changed with the thread count (or with the
machine) would make the suite pass or fail by accident."""
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MINILM, TEST_DATA, require

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def digests(root: Path) -> dict:
    """sha256 of every file under root (links followed), keyed by relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def generate(out: Path, threads: int, sts_file: Path) -> None:
    """Runs the corpus, tokenizer, tiny-model and family-model generators into `out` on `threads`
    threads."""
    env = dict(os.environ)
    for name in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    env["PYTHONHASHSEED"] = str(threads)  # hash randomisation must not leak into any output

    def run(script, *args):
        subprocess.run([sys.executable, str(SCRIPTS / script), *map(str, args)], env=env,
                       check=True, capture_output=True, timeout=600)

    run("make_corpus.py", "--out", out / "corpus.jsonl", "--sts", sts_file)
    run("make_tokenizers.py", out / "tokenizers", "--corpus", out / "corpus.jsonl",
        "--minilm-dir", MINILM)
    # The alignment and pair cases alone; the full parity files take minutes.
    import make_tokenizer_fixtures
    from fixture_io import read_texts, write_jsonl
    write_jsonl(out / "tokenizer-parity" / "alignment-cases.jsonl",
                make_tokenizer_fixtures.alignment_case_records(out / "tokenizers"))
    write_jsonl(out / "tokenizer-parity" / "pair-cases.jsonl",
                make_tokenizer_fixtures.pair_case_records(out / "tokenizers",
                                                          read_texts(out / "corpus.jsonl")))
    run("make_tiny_models.py", out / "tiny-models", "--minilm-dir", MINILM)
    (out / "models").mkdir()
    (out / "models" / "all-MiniLM-L6-v2").symlink_to(MINILM.resolve())
    # The model folders only: their reference embeddings are not compared here.
    run("make_family_models.py", "--test-data", out, "--no-embeddings")


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    require(MINILM / "tokenizer.json")
    require(TEST_DATA / "corpus.jsonl")
    sys.path.insert(0, str(SCRIPTS))
    # The corpus takes English sentences from the STS-B dev file when make_test_data.sh found
    # it; regenerate with the same input so the comparison with TEST_DATA is like for like.
    from make_corpus import DEFAULT_STS
    runs = {}
    for threads in (1, 2):
        out = tmp_path_factory.mktemp(f"fixtures-{threads}-threads")
        generate(out, threads, DEFAULT_STS)
        runs[threads] = out
    return runs


PARTS = ["corpus.jsonl", "tokenizers", "tokenizer-parity/alignment-cases.jsonl",
         "tokenizer-parity/pair-cases.jsonl", "tiny-models", "family-models"]


@pytest.mark.parametrize("part", PARTS)
def test_one_and_two_threads_give_the_same_bytes(regenerated, part):
    one, two = (regenerated[t] / part for t in (1, 2))
    if one.is_file():
        assert hashlib.sha256(one.read_bytes()).digest() == hashlib.sha256(two.read_bytes()).digest()
    else:
        a, b = digests(one), digests(two)
        assert a and a == b


@pytest.mark.parametrize("part", PARTS)
def test_the_suite_reads_the_regenerated_bytes(regenerated, part):
    used = require(TEST_DATA / part)
    fresh = regenerated[1] / part
    if fresh.is_file():
        assert hashlib.sha256(fresh.read_bytes()).digest() == hashlib.sha256(used.read_bytes()).digest()
    else:
        fresh_digests, used_digests = digests(fresh), digests(used)
        differ = sorted(k for k in fresh_digests if fresh_digests[k] != used_digests.get(k))
        assert not differ, f"{part}: regenerated files differ from {used}: {differ[:5]}"
