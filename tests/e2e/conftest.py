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


# --- The HTTP server ---------------------------------------------------------------------------

TINY_MEAN = TEST_DATA / "tiny-models" / "tiny-mean"


def sts_sentences(limit: int):
    """Distinct STS-B dev sentences, in file order."""
    path = require(SHARED_DATA / "stsbenchmark" / "sts-dev.csv")
    seen, out = set(), []
    with open(path, encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            for text in cols[5:7]:
                if text not in seen:
                    seen.add(text)
                    out.append(text)
                    if len(out) == limit:
                        return out
    return out


class ServerProcess:
    """`embedrt serve` on a free loopback port, started and stopped by the tests."""

    def __init__(self, model: Path, *args, env=None):
        import re
        import threading
        import time
        self.model = require(model)
        self.proc = subprocess.Popen([CLI, "serve", "--model", str(model), "--port", "0", *map(str, args)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env={**os.environ, **(env or {})})
        self.log = []
        port_found = threading.Event()
        self.port = None

        def read_log():
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", errors="replace")
                self.log.append(line)
                match = re.search(r"listening on http://[^:]+:(\d+)", line)
                if match and self.port is None:
                    self.port = int(match.group(1))
                    port_found.set()
            port_found.set()

        self.reader = threading.Thread(target=read_log, daemon=True)
        self.reader.start()
        if not port_found.wait(60) or self.port is None:
            self.kill()
            raise AssertionError(f"server did not start: {''.join(self.log)}")
        self.base = f"http://127.0.0.1:{self.port}"
        self.started = time.monotonic()

    def wait_ready(self, timeout: float = 180):
        import time
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}: {''.join(self.log)}")
            try:
                status, _, _ = self.request("GET", "/health", timeout=2)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready after {timeout} s: {''.join(self.log)}")

    def request(self, method: str, path: str, body=None, headers=None, timeout: float = 60):
        """One request on a fresh connection: (status, headers dict lower-cased, body bytes)."""
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if body is not None and not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            hdrs = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=body, headers=hdrs)
            response = conn.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()

    def post(self, path: str, body, headers=None, timeout: float = 60):
        status, hdrs, data = self.request("POST", path, body, headers, timeout)
        return status, hdrs, (json.loads(data) if data else None)

    def metric(self, name: str) -> float:
        """The value of an unlabelled metric from /metrics."""
        _, _, data = self.request("GET", "/metrics")
        for line in data.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"no metric {name}")

    def terminate(self, timeout: float = 60) -> int:
        import signal
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.reader.join(5)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def offline_embeddings(model: Path, texts, *args):
    """Embeddings from `embedrt encode` (the reference the server must match), as float32 rows."""
    import numpy as np
    result = run_cli("encode", "--model", model, "--input-format", "jsonl", "--format", "jsonl",
                     *args, input_bytes=jsonl_input(texts))
    rows = [json.loads(line) for line in result.stdout.decode().splitlines() if line.strip()]
    return np.asarray(rows, dtype=np.float32)
