"""Shared helpers for the end-to-end tests: they drive the built `embedrt` binary as a user would."""
import json
import os
import subprocess
from pathlib import Path

import pytest

CLI = os.environ.get("EMBEDRT_CLI", str(Path(__file__).resolve().parents[2] / "build" / "embedrt"))
TEST_DATA = Path(os.environ.get("EMBEDRT_TEST_DATA",
                                Path(__file__).resolve().parents[2] / "test-data"))
SHARED_DATA = Path(os.environ.get("EMBEDRT_SHARED_DATA",
                                  Path(__file__).resolve().parents[3] / "shared" / "data"))
MINILM = TEST_DATA / "models" / "all-MiniLM-L6-v2"


def require(path: Path) -> Path:
    """Skips the test, naming the missing fixture, unless `path` exists."""
    if not path.exists():
        pytest.skip(f"missing fixture {path} (generate it with scripts/make_test_data.sh)")
    return path


def run_cli(*args, input_bytes: bytes = b"", check: bool = True, timeout: float = 600):
    """Runs embedrt; returns the CompletedProcess (stdout/stderr as bytes)."""
    result = subprocess.run([CLI, *map(str, args)], input=input_bytes, capture_output=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"embedrt {' '.join(map(str, args))} failed "
                             f"({result.returncode}): {result.stderr.decode(errors='replace')}")
    return result


def read_jsonl(path: Path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def jsonl_input(texts) -> bytes:
    return "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts).encode("utf-8")


def assert_one_line_error(result, *needles):
    """A failed run: non-zero exit (not a signal), exactly one 'error:' line naming `needles`."""
    stderr = result.stderr.decode("utf-8", errors="replace")
    assert result.returncode > 0, f"expected a clean failure, got {result.returncode}: {stderr}"
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for needle in needles:
        assert str(needle) in lines[0], f"{needle!r} not in {lines[0]!r}"
