"""`embedrt serve` against hostile clients, over raw sockets on 127.0.0.1: bodies over the payload
limit (declared, chunked, gzip), lying or malformed Content-Length, header sections that never end,
slowloris, a thousand idle connections, deeply nested JSON, huge input counts, 10 MB texts, invalid
UTF-8 and wrong API keys.

After each attack the server must have answered with a clear 4xx or closed the connection within
its configured timeouts, still answer a normal request, and give its memory back (VmRSS within
MEMORY_SLACK_MB of what it was before the attack, after a short settle). Every loop is bounded in
count and in time; timed assertions are only about the server's configured timeouts."""
import gzip
import json
import resource
import select
import socket
import time

import pytest

from conftest import TINY_MEAN, ServerProcess

KEY = "hostile-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
READ_TIMEOUT = 3  # s, --read-timeout
KEEP_ALIVE_TIMEOUT = 4  # s, --keep-alive-timeout
MARGIN = 5  # s allowed past a configured timeout
PAYLOAD_LIMIT = 12_000_000  # --payload-limit: room for a 10 MB text
MAX_INPUTS = 4096  # --max-client-batch-size
MAX_HEADER_BYTES = 16384  # --max-header-bytes
DIMENSION = 32  # tiny-mean's
MEMORY_SLACK_MB = 30
IDLE_CONNECTIONS = 1000


def raise_open_file_limit(needed: int) -> bool:
    """Raises this process's soft RLIMIT_NOFILE to `needed` (the server inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return True
    if hard != resource.RLIM_INFINITY and hard < needed:
        return False
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return True


@pytest.fixture(scope="module")
def server():
    # Before the server starts, so that it inherits the limit too.
    raise_open_file_limit(IDLE_CONNECTIONS + 512)
    srv = ServerProcess(TINY_MEAN, "--read-timeout", READ_TIMEOUT,
                        "--keep-alive-timeout", KEEP_ALIVE_TIMEOUT,
                        "--payload-limit", PAYLOAD_LIMIT, "--max-client-batch-size", MAX_INPUTS,
                        "--max-header-bytes", MAX_HEADER_BYTES, "--api-key", KEY,
                        "--cache-mb", "0")  # the cache would rightly keep big texts' keys
    srv.wait_ready()
    yield srv
    assert srv.terminate() == 0, "".join(srv.log)


# --- Helpers ------------------------------------------------------------------------------------

def rss_mb(server) -> float:
    with open(f"/proc/{server.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def call(server, method, path, body=None, headers=None, timeout=60):
    """One request with the API key: (status, headers, body bytes)."""
    return server.request(method, path, body, {**AUTH, **(headers or {})}, timeout=timeout)


def assert_still_serving(server, baseline_mb: float, settle: float = 5):
    """The server is alive, embeds a normal request, and its RSS comes back near `baseline_mb`."""
    assert server.proc.poll() is None, "".join(server.log)
    status, _, data = call(server, "POST", "/embed", {"inputs": "a normal request"})
    assert status == 200 and len(json.loads(data)[0]) == DIMENSION
    deadline = time.monotonic() + settle
    while True:
        now = rss_mb(server)
        if now <= baseline_mb + MEMORY_SLACK_MB:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"RSS {now:.0f} MB, {now - baseline_mb:.0f} MB above the "
                                 f"{baseline_mb:.0f} MB before the attack")
        time.sleep(0.2)


def connect(server, timeout: float = 10) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def head(method: str, path: str, headers, auth: bool = True) -> bytes:
    """A request line and header fields; `headers` a dict or a list of pairs (repeats allowed)."""
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
    if auth:
        pairs = list(AUTH.items()) + pairs
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in pairs]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def readable(sock: socket.socket, timeout: float = 0) -> bool:
    poller = select.poll()  # not select(): descriptor numbers pass 1024 with the idle connections
    poller.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(timeout * 1000))


def read_until_closed(sock: socket.socket, timeout: float):
    """What the server sends until it closes: (bytes, closed, seconds). A reset counts as closed."""
    start = time.monotonic()
    deadline = start + timeout
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False, time.monotonic() - start
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return data, False, time.monotonic() - start
        except ConnectionResetError:
            return data, True, time.monotonic() - start
        if not chunk:
            return data, True, time.monotonic() - start
        data += chunk


def send_until_answered(sock: socket.socket, chunk: bytes, max_bytes: int, seconds: float):
    """Sends `chunk` again and again until the server answers or stops reading, at most
    `max_bytes` or `seconds`; returns (bytes sent, whether the server answered or hung up)."""
    sent = 0
    deadline = time.monotonic() + seconds
    sock.settimeout(0.5)
    while sent < max_bytes and time.monotonic() < deadline:
        if readable(sock):
            return sent, True
        try:
            sock.sendall(chunk)
            sent += len(chunk)
        except socket.timeout:
            continue  # the socket buffers are full: the server is not reading
        except (BrokenPipeError, ConnectionResetError):
            return sent, True
    return sent, readable(sock)


def parse_responses(data: bytes):
    """HTTP/1.1 responses with Content-Length bodies: [(status, headers lower-cased, body)]."""
    out = []
    while data:
        raw_head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"incomplete response: {data[:200]!r}"
        lines = raw_head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1.1 "), lines[0]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        out.append((int(lines[0].split()[1]), headers, rest[:length]))
        data = rest[length:]
    return out


def error_message(body: bytes) -> str:
    """The message of a TEI- or OpenAI-style error; the body must be strict UTF-8 JSON."""
    error = json.loads(body.decode("utf-8"))["error"]
    return error["message"] if isinstance(error, dict) else error


def one_answer_then_closed(sock: socket.socket, timeout: float = READ_TIMEOUT + MARGIN):
    """The single response on `sock`, after which the server closed the connection."""
    data, closed, elapsed = read_until_closed(sock, timeout)
    sock.close()
    assert closed, f"still open after {elapsed:.1f} s: {data[:300]!r}"
    responses = parse_responses(data)
    assert len(responses) == 1, responses
    return responses[0]


# --- Bodies over the payload limit --------------------------------------------------------------

def test_declared_body_over_the_limit_is_answered_before_it_is_sent(server):
    baseline = rss_mb(server)
    sock = connect(server)
    sock.sendall(head("POST", "/v1/embeddings", {"Content-Length": PAYLOAD_LIMIT + 1}))
    status, headers, body = one_answer_then_closed(sock)
    assert status == 413 and headers.get("connection") == "close"
    assert "payload limit" in error_message(body)
    assert_still_serving(server, baseline)


def test_chunked_body_over_the_limit(server):
    baseline = rss_mb(server)
    sock = connect(server)
    sock.sendall(head("POST", "/embed", {"Transfer-Encoding": "chunked"}))
    chunk = b"10000\r\n" + b"a" * 0x10000 + b"\r\n"
    sent, answered = send_until_answered(sock, chunk, max_bytes=8 * PAYLOAD_LIMIT,
                                         seconds=READ_TIMEOUT + MARGIN)
    assert answered, f"the server read {sent} bytes of a chunked body and said nothing"
    status, _, body = one_answer_then_closed(sock)
    assert status == 413 and "payload limit" in error_message(body)
    assert_still_serving(server, baseline)


def test_endless_chunk_size_line(server):
    baseline = rss_mb(server)
    sock = connect(server)
    sock.sendall(head("POST", "/embed", {"Transfer-Encoding": "chunked"}))
    sent, answered = send_until_answered(sock, b"1" * 65536, max_bytes=8 * PAYLOAD_LIMIT,
                                         seconds=READ_TIMEOUT + MARGIN)
    assert answered, f"the server read a {sent}-byte chunk-size line and said nothing"
    status, _, _ = one_answer_then_closed(sock)
    assert status in (400, 413)
    assert_still_serving(server, baseline)


def test_gzip_body_that_inflates_past_the_limit(server):
    baseline = rss_mb(server)
    text = "a " * (20_000_000)  # 40 MB of JSON once inflated, about 40 KB compressed
    compressed = gzip.compress(json.dumps({"inputs": text}).encode(), 9)
    assert len(compressed) < PAYLOAD_LIMIT // 100
    sock = connect(server)
    sock.sendall(head("POST", "/embed", {"Content-Length": len(compressed),
                                         "Content-Encoding": "gzip"}) + compressed)
    status, _, body = one_answer_then_closed(sock)
    assert status == 413 and "once decoded" in error_message(body)
    # Within the limit once inflated, a compressed body still works.
    small = gzip.compress(json.dumps({"inputs": ["gzip", "body"]}).encode())
    sock = connect(server)
    sock.sendall(head("POST", "/embed", {"Content-Length": len(small), "Content-Encoding": "gzip",
                                         "Connection": "close"}) + small)
    status, _, body = one_answer_then_closed(sock)
    assert status == 200 and len(json.loads(body)) == 2
    assert_still_serving(server, baseline)


# --- Content-Length that lies or is malformed ---------------------------------------------------

def test_content_length_larger_than_the_body_then_a_stall(server):
    baseline = rss_mb(server)
    sock = connect(server)
    sock.sendall(head("POST", "/embed", {"Content-Length": 100}) + b'{"inputs": "a')
    status, _, body = one_answer_then_closed(sock)
    assert status == 408 and "read timeout" in error_message(body)
    assert_still_serving(server, baseline)


def test_content_length_smaller_than_the_body(server):
    baseline = rss_mb(server)
    sock = connect(server)
    # The request ends after 5 bytes; the rest of the body is read as the next request, which is
    # not HTTP: the connection closes without reaching the GET hidden behind it.
    sock.sendall(head("POST", "/embed", {"Content-Length": 5}) + b'{"inputs": "a"}\r\n' +
                 head("GET", "/v1/models", {}))
    data, closed, elapsed = read_until_closed(sock, READ_TIMEOUT + MARGIN)
    sock.close()
    assert closed, f"still open after {elapsed:.1f} s"
    statuses = [status for status, _, _ in parse_responses(data)]
    assert statuses == [400, 400], statuses
    assert b'"object":"list"' not in data
    assert_still_serving(server, baseline)


@pytest.mark.parametrize("headers, needle", [
    ({"Content-Length": "-1"}, "invalid Content-Length"),
    ({"Content-Length": "abc"}, "invalid Content-Length"),
    ({"Content-Length": "1e2"}, "invalid Content-Length"),
    ({"Content-Length": "+14"}, "invalid Content-Length"),
    ([("Content-Length", "5"), ("Content-Length", "14")], "conflicting Content-Length"),
    ([("Content-Length", "14"), ("Transfer-Encoding", "chunked")], "both"),
    ({"Transfer-Encoding": "gzip"}, "Transfer-Encoding"),
], ids=["negative", "non-numeric", "exponent", "plus-sign", "two-values", "with-chunked",
        "gzip-transfer-encoding"])
def test_malformed_framing_is_a_400_and_the_body_is_never_a_request(server, headers, needle):
    baseline = rss_mb(server)
    sock = connect(server)
    # Were the body read as the next request, a second response would follow.
    sock.sendall(head("POST", "/embed", headers) + b'{"inputs": "a"}' + head("GET", "/health", {}))
    status, headers, body = one_answer_then_closed(sock)
    assert status == 400 and headers.get("connection") == "close"
    assert needle in error_message(body)
    assert_still_serving(server, baseline)


def test_post_without_a_length_is_a_411(server):
    sock = connect(server)
    sock.sendall(head("POST", "/embed", {}) + b'{"inputs": "a"}')
    status, _, body = one_answer_then_closed(sock)
    assert status == 411 and "Content-Length required" in error_message(body)


def test_body_on_a_get_is_not_read_as_the_next_request(server):
    sock = connect(server)
    smuggled = head("GET", "/v1/models", {})
    sock.sendall(head("GET", "/health", {"Content-Length": len(smuggled)}) + smuggled)
    status, _, _ = one_answer_then_closed(sock)
    assert status == 200


# --- Header sections that never end, slowloris ---------------------------------------------------

@pytest.mark.parametrize("opening, chunk", [
    (b"", b"".join(b"X-Filler-%04d: value\r\n" % i for i in range(200))),
    (b"X-Endless: ", b"v" * 4096),
], ids=["endless-header-lines", "one-endless-line"])
def test_header_section_that_never_ends(server, opening, chunk):
    baseline = rss_mb(server)
    sock = connect(server)
    sock.sendall(b"POST /embed HTTP/1.1\r\nHost: 127.0.0.1\r\n" + opening)
    start = time.monotonic()
    sent, answered = send_until_answered(sock, chunk, max_bytes=256 << 20,
                                         seconds=READ_TIMEOUT + MARGIN)
    assert answered, f"{sent} bytes of header fields in {time.monotonic() - start:.1f} s"
    data, closed, _ = read_until_closed(sock, READ_TIMEOUT + MARGIN)
    sock.close()
    assert closed and time.monotonic() - start <= READ_TIMEOUT + MARGIN
    if data:  # the 431 can be lost to a reset while the client still sends
        [(status, _, body)] = parse_responses(data)
        assert status == 431 and str(MAX_HEADER_BYTES) in error_message(body)
    assert_still_serving(server, baseline)


def test_headers_just_under_the_limit_are_fine(server):
    # Three lines of 4000 bytes (httplib takes lines of up to 8192).
    fillers = {f"X-Filler-{i}": "x" * 4000 for i in range(3)}
    status, _, data = call(server, "POST", "/embed", {"inputs": "ok"}, headers=fillers)
    assert status == 200 and len(json.loads(data)) == 1


def test_slowloris_clients_are_cut_at_the_read_timeout(server):
    baseline = rss_mb(server)
    request = head("POST", "/embed", {"Content-Length": 15}) + b'{"inputs": "a"}'
    clients = [connect(server) for _ in range(20)]
    opened = time.monotonic()
    closed_after = {}
    normal_checked = False
    for second in range(READ_TIMEOUT + MARGIN + 1):  # one byte per client per second
        for i, sock in enumerate(clients):
            if i in closed_after:
                continue
            gone = False
            if readable(sock):
                data, gone, _ = read_until_closed(sock, 1)
                gone = gone or bool(data)
            else:
                try:
                    sock.send(request[second:second + 1])
                except (BrokenPipeError, ConnectionResetError):
                    gone = True
            if gone:
                closed_after[i] = time.monotonic() - opened
        if not normal_checked:  # meanwhile, everyone else is served
            status, _, _ = call(server, "POST", "/embed", {"inputs": "not slow"})
            assert status == 200
            normal_checked = True
        if len(closed_after) == len(clients):
            break
        time.sleep(1)
    for sock in clients:
        sock.close()
    assert len(closed_after) == len(clients), f"open past {READ_TIMEOUT + MARGIN} s"
    assert max(closed_after.values()) <= READ_TIMEOUT + MARGIN
    assert_still_serving(server, baseline)


# --- A thousand idle connections ----------------------------------------------------------------

def test_thousand_idle_connections(server):
    if not raise_open_file_limit(IDLE_CONNECTIONS + 512):
        pytest.skip(f"RLIMIT_NOFILE too low for {IDLE_CONNECTIONS} connections")
    baseline = rss_mb(server)
    idle = []
    try:
        for _ in range(IDLE_CONNECTIONS):
            idle.append(connect(server))
        opened = time.monotonic()
        # The server keeps answering: a request never waits for an idle connection to time out.
        for k in range(5):
            start = time.monotonic()
            status, _, data = call(server, "POST", "/embed", {"inputs": f"request {k}"},
                                   timeout=KEEP_ALIVE_TIMEOUT + MARGIN)
            assert status == 200 and len(json.loads(data)[0]) == DIMENSION
            assert time.monotonic() - start < KEEP_ALIVE_TIMEOUT
        # And it lets the idle connections go at the keep-alive timeout.
        poller = select.poll()
        by_fd = {sock.fileno(): sock for sock in idle}
        for fd in by_fd:
            poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        closed = set()
        deadline = opened + KEEP_ALIVE_TIMEOUT + MARGIN
        while len(closed) < len(idle) and time.monotonic() < deadline:
            for fd, _ in poller.poll(200):
                sock = by_fd[fd]
                sock.settimeout(1)
                try:
                    data = sock.recv(1024)
                except (ConnectionResetError, socket.timeout):
                    data = b""
                assert data == b"", f"an idle connection got {data[:200]!r}"
                closed.add(fd)
                poller.unregister(fd)
        assert len(closed) == len(idle), f"{len(idle) - len(closed)} idle connections still open"
    finally:
        for sock in idle:
            sock.close()
    assert_still_serving(server, baseline)


# --- Bodies that are costly to parse ------------------------------------------------------------

@pytest.mark.parametrize("body", [
    b"[" * 100_000,
    b"[" * 100_000 + b"]" * 100_000,
    b'{"inputs":' * 100_000,
    b'{"inputs": ' + b"[" * 1_000_000 + b'"a"' + b"]" * 1_000_000 + b"}",
], ids=["open-arrays", "closed-arrays", "objects", "million-arrays"])
def test_deeply_nested_json(server, body):
    baseline = rss_mb(server)
    status, _, data = call(server, "POST", "/embed", body)
    assert status == 400 and "nested deeper than 128" in error_message(data)
    assert_still_serving(server, baseline)


def test_huge_numbers_of_inputs(server):
    baseline = rss_mb(server)
    status, _, data = call(server, "POST", "/v1/embeddings", {"input": ["a"] * (MAX_INPUTS + 1)})
    assert status == 413 and json.loads(data)["error"]["param"] == "input"
    status, _, data = call(server, "POST", "/embed", {"inputs": ["a"] * 1_000_000})
    assert status == 413 and "1000000 inputs" in error_message(data)
    status, _, data = call(server, "POST", "/v1/embeddings",
                           {"input": [[7]] * 1_000_000})  # token ids: 1M more arrays
    assert status == 413
    # Many tiny inputs within the limit work.
    status, _, data = call(server, "POST", "/embed", {"inputs": ["a", "b c", "d"] * (MAX_INPUTS // 3)})
    assert status == 200
    vectors = json.loads(data)
    assert len(vectors) == MAX_INPUTS // 3 * 3 and vectors[0] == vectors[3]
    assert_still_serving(server, baseline)


def test_ten_megabyte_texts(server):
    baseline = rss_mb(server)
    text = ("lorem ipsum dolor sit amet " * 400_000)[:10_000_000]
    status, _, data = call(server, "POST", "/v1/embeddings", {"input": text}, timeout=120)
    assert status == 422 and json.loads(data)["error"]["param"] == "input[0]"
    assert "over the maximum" in error_message(data)
    status, _, data = call(server, "POST", "/embed", {"inputs": [text], "truncate": True},
                           timeout=120)
    assert status == 200 and len(json.loads(data)[0]) == DIMENSION
    _, _, short = call(server, "POST", "/embed", {"inputs": [text[:2000]], "truncate": True})
    assert json.loads(short) == json.loads(data)  # only the first max-length tokens count
    assert_still_serving(server, baseline)


# --- Invalid UTF-8 ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    b'{"inputs": "ab\xff\xfecd"}',  # bytes that are never UTF-8
    b'{"inputs": "ab\xc3"}',  # a truncated sequence
    b'{"inputs": "\xc0\x80"}',  # overlong NUL
    b'{"inputs": "\xe0\x80\xaf"}',  # overlong '/'
    b'{"inputs": "\xed\xa0\x80"}',  # an encoded surrogate
    b'{"inputs": "\xf4\x90\x80\x80"}',  # past U+10FFFF
    b'{"inputs": "ab\\ud800cd"}',  # lone high surrogate escape
    b'{"inputs": "\\udc00"}',  # lone low surrogate escape
    b'{"inputs": "\\ud800\\u0041"}',  # high surrogate, then not a low one
], ids=["ff-fe", "truncated", "overlong-nul", "overlong-slash", "encoded-surrogate",
        "past-max", "lone-high-escape", "lone-low-escape", "unpaired-escape"])
def test_invalid_utf8_in_json_strings_is_a_400_in_valid_utf8(server, raw):
    status, _, data = call(server, "POST", "/embed", raw)
    assert status == 400
    assert "not valid JSON" in error_message(data)  # decodes as strict UTF-8


def test_invalid_utf8_in_a_path_is_answered_in_valid_utf8(server):
    sock = connect(server)
    sock.sendall(head("GET", "/%ff%fe", {"Connection": "close"}))
    status, _, body = one_answer_then_closed(sock)
    assert status == 404 and error_message(body) == "no route /\ufffd\ufffd"


def test_surrogate_pairs_and_nul_escapes_are_fine(server):
    status, _, data = call(server, "POST", "/embed", b'{"inputs": ["\\ud83d\\ude00", "a\\u0000b"]}')
    assert status == 200 and len(json.loads(data)) == 2


# --- API keys -----------------------------------------------------------------------------------

def test_wrong_api_keys(server):
    baseline = rss_mb(server)
    wrong = ["", "x", KEY[:-1], KEY + "x", KEY[:-1] + "X", "X" + KEY[1:], KEY.upper(),
             KEY * 100, " " + KEY, "\u00e9" + KEY[1:]]
    for key in wrong:
        for header in (f"Bearer {key}", f"Basic {key}", key):
            status, headers, data = server.request(
                "POST", "/embed", {"inputs": "a"},
                headers={"Authorization": header.encode().decode("latin-1")})
            assert status == 401 and headers.get("www-authenticate") == "Bearer", header
            assert json.loads(data)["error_type"] == "Unauthorized"
    # A wrong key is turned away before its body is read: the body need not even be sent.
    sock = connect(server)
    sock.sendall(head("POST", "/embed", {"Authorization": "Bearer nope",
                                         "Content-Length": PAYLOAD_LIMIT}, auth=False))
    status, _, _ = one_answer_then_closed(sock)
    assert status == 401
    assert_still_serving(server, baseline)
