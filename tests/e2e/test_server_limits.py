"""Server limits on a small model: API key, concurrency (429), timeouts, payload and batch limits,
auto-truncation and configuration through EMBEDRT_* variables."""
import json
import socket
import time

import pytest

from conftest import TINY_MEAN, ServerProcess

KEY = "s3cret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def server():
    # Half of the settings through the environment, to check that every flag has its variable.
    srv = ServerProcess(TINY_MEAN, "--max-client-batch-size", "4", "--read-timeout", "3",
                        "--auto-truncate",
                        env={"EMBEDRT_API_KEY": KEY, "EMBEDRT_MAX_CONCURRENT_REQUESTS": "1",
                             "EMBEDRT_PAYLOAD_LIMIT": "4096", "EMBEDRT_MAX_INPUT_LENGTH": "16",
                             "EMBEDRT_EXPRESS_MAX_TOKENS": "32"})
    srv.wait_ready()
    yield srv
    assert srv.terminate() == 0, "".join(srv.log)


def error_of(data):
    return json.loads(data)["error"]


def test_api_key_required_except_for_health(server):
    status, headers, data = server.request("POST", "/v1/embeddings", {"input": "x"})
    assert status == 401 and headers.get("www-authenticate") == "Bearer"
    assert error_of(data)["code"] == "invalid_api_key"
    status, _, data = server.request("POST", "/v1/embeddings", {"input": "x"},
                                     headers={"Authorization": "Bearer s3cret-kez"})
    assert status == 401
    status, _, data = server.request("POST", "/embed", {"inputs": "x"},
                                     headers={"Authorization": "Bearer " + KEY + "x"})
    assert status == 401 and json.loads(data)["error_type"] == "Unauthorized"
    assert server.request("GET", "/metrics")[0] == 401
    assert server.request("GET", "/health")[0] == 200
    status, _, data = server.request("POST", "/embed", {"inputs": "x"}, headers=AUTH)
    assert status == 200


def test_openai_client_with_the_key(server):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.base + "/v1", api_key=KEY, max_retries=0)
    result = client.embeddings.create(model="tiny", input=["a b c", "d e"])
    assert len(result.data) == 2
    bad = openai.OpenAI(base_url=server.base + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.embeddings.create(model="tiny", input="a")


def test_429_at_once_over_the_concurrency_limit(server):
    # A request whose body has not arrived yet holds the only slot.
    holder = socket.create_connection(("127.0.0.1", server.port))
    holder.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                   KEY.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n")
    time.sleep(0.3)
    start = time.monotonic()
    status, headers, data = server.request("POST", "/v1/embeddings", {"input": "x"}, headers=AUTH)
    assert time.monotonic() - start < 2.5  # not queued behind the held slot (3 s)
    assert status == 429 and headers["retry-after"] == "1"
    assert error_of(data)["type"] == "rate_limit_error"
    holder.close()
    deadline = time.monotonic() + 5
    while server.request("POST", "/embed", {"inputs": "x"}, headers=AUTH)[0] != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_stalled_client_hits_the_read_timeout(server):
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.settimeout(10)
    start = time.monotonic()
    sock.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\n")
    closed = False
    try:
        # Trickling bytes does not extend the deadline: it covers the whole request.
        for _ in range(40):
            sock.sendall(b"X")
            time.sleep(0.25)
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    if not closed:
        try:
            sock.recv(4096)  # an error response or the end of the stream: the server let go
            closed = True
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            closed = False
    sock.close()
    assert closed
    assert time.monotonic() - start < 8  # read timeout 3 s, though bytes kept coming for 10


def test_client_that_stops_reading_hits_the_write_timeout():
    # A response far larger than what the socket buffers of both ends can hold: once they are
    # full and the client reads nothing for the write timeout, the server must drop the
    # connection instead of blocking a worker forever.
    srv = ServerProcess(TINY_MEAN, "--write-timeout", "1", "--max-client-batch-size", "30000",
                        "--payload-limit", "5000000", "--cache-mb", "0").wait_ready()
    try:
        inputs = [f"text {i}" for i in range(30000)]  # about 30000 * 32 floats of JSON: ~11 MB
        body = json.dumps({"inputs": inputs}).encode()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", srv.port))
        sock.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        # Wait for the response to start without taking anything out of the socket buffer: on a
        # loaded machine (tests run two at a time) computing 30000 texts can take many seconds.
        # From the first byte on, the buffers fill at once, and 1 s of stall drops the connection.
        sock.settimeout(120)
        assert sock.recv(1, socket.MSG_PEEK), "the server closed before responding"
        time.sleep(6)
        sock.settimeout(10)
        received = b""
        try:
            while True:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                received += chunk
        except ConnectionResetError:
            pass
        sock.close()
        head, _, payload = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        assert length > 8_000_000
        assert 0 < len(payload) < length, "the whole response arrived: no write timeout"
        # The server goes on serving.
        status, _, data = srv.request("POST", "/embed", {"inputs": "still here"})
        assert status == 200 and len(json.loads(data)[0]) == 32
    finally:
        assert srv.terminate() == 0, "".join(srv.log)


def test_payload_and_batch_limits(server):
    status, _, data = server.request("POST", "/v1/embeddings", {"input": ["a"] * 5}, headers=AUTH)
    assert status == 413 and error_of(data)["param"] == "input"
    status, _, data = server.request("POST", "/embed", {"inputs": "x" * 5000}, headers=AUTH)
    assert status == 413 and json.loads(data)["error_type"] == "Validation"


def test_auto_truncate_unless_the_request_says_otherwise(server):
    long_text = "a b c d e f g h " * 10
    status, _, _ = server.request("POST", "/v1/embeddings", {"input": long_text}, headers=AUTH)
    assert status == 200
    status, _, data = server.request("POST", "/embed", {"inputs": ["ok", long_text],
                                                        "truncate": False}, headers=AUTH)
    assert status == 422 and "inputs[1]" in json.loads(data)["error"]
    status, _, info = server.request("GET", "/info", headers=AUTH)
    info = json.loads(info)
    assert info["max_input_length"] == 16 and info["auto_truncate"] is True
    assert info["max_concurrent_requests"] == 1 and info["payload_limit"] == 4096
    assert info["express_max_tokens"] == 32
