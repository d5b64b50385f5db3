"""SIGTERM with requests in flight: they finish, new connections are refused, the exit is 0."""
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import MINILM, ServerProcess, sts_sentences


def test_sigterm_finishes_requests_in_flight():
    server = ServerProcess(MINILM, "--threads", "2", "--cache-mb", "0").wait_ready()
    try:
        sentences = sts_sentences(200)
        # ~100-token texts: each request keeps the model busy for a good part of a second.
        long_texts = [" ".join(sentences[i:i + 6]) for i in range(0, 192, 6)]

        def embed(k):
            return server.post("/embed", {"inputs": long_texts[k * 8:(k + 1) * 8]}, timeout=120)

        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(embed, k) for k in range(4)]
            deadline = time.monotonic() + 60
            while server.metric("embedrt_concurrent_requests") < 4:  # all four in flight
                assert time.monotonic() < deadline, "requests never arrived"
                time.sleep(0.02)
            server.proc.send_signal(signal.SIGTERM)
            results = [f.result() for f in futures]
        for status, _, body in results:
            assert status == 200
            assert len(body) == 8 and len(body[0]) == 384
        assert server.proc.wait(30) == 0
        log = "".join(server.log)
        assert "finishing requests in flight" in log
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
            refused = False
        except OSError:
            refused = True
        assert refused
    finally:
        server.kill()
