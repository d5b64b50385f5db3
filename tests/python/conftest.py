"""Shared helpers for the Python package's tests. ctest runs them with the package built in
<build>/python on PYTHONPATH (tests/CMakeLists.txt); by hand:

    PYTHONPATH=build/python .venv/bin/python -m pytest tests/python
"""
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = os.environ.get("EMBEDRT_CLI", str(ROOT / "build" / "embedrt"))
TEST_DATA = Path(os.environ.get("EMBEDRT_TEST_DATA", ROOT / "test-data"))
MINILM = TEST_DATA / "models" / "all-MiniLM-L6-v2"
TINY_PROMPTS = TEST_DATA / "tiny-models" / "tiny-prompts"


def require(path: Path) -> Path:
    """Skips the test, naming the missing fixture, unless `path` exists."""
    if not path.exists():
        pytest.skip(f"missing fixture {path} (generate it with scripts/make_test_data.sh)")
    return path


def read_jsonl(path: Path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def corpus_texts(n: int, seed: int = 7):
    """n texts drawn from the generated corpus (mixed lengths and scripts)."""
    import numpy as np
    texts = [r["text"] for r in read_jsonl(require(TEST_DATA / "corpus.jsonl"))]
    rng = np.random.default_rng(seed)
    return [texts[i] for i in rng.choice(len(texts), n, replace=False)]


def cosines(a, b):
    import numpy as np
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="session")
def minilm():
    import embedrt
    return embedrt.Embedder(str(require(MINILM)))
