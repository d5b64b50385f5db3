"""`embedrt serve` driven over HTTP: the OpenAI client, TEI requests, every error, concurrency."""
import base64
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from conftest import MINILM, ServerProcess, offline_embeddings, sts_sentences

TIMING_HEADERS = ("x-request-id", "x-total-time", "x-tokenization-time", "x-queue-time",
                  "x-inference-time")


@pytest.fixture(scope="module")
def server():
    srv = ServerProcess(MINILM, "--threads", "2").wait_ready()
    yield srv
    assert srv.terminate() == 0, "".join(srv.log)


@pytest.fixture(scope="module")
def texts():
    return sts_sentences(300)


@pytest.fixture(scope="module")
def reference(texts):
    return offline_embeddings(MINILM, texts)


def floats(values):
    return np.asarray(values, dtype=np.float32)


def from_base64(text):
    return np.frombuffer(base64.b64decode(text), dtype="<f4")


# --- OpenAI -------------------------------------------------------------------------------------

def test_openai_client_float_and_base64(server, texts, reference):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.base + "/v1", api_key="unused", max_retries=0)
    batch = texts[:5]
    as_float = client.embeddings.create(model="all-MiniLM-L6-v2", input=batch,
                                        encoding_format="float")
    as_default = client.embeddings.create(model="all-MiniLM-L6-v2", input=batch)  # base64
    assert as_float.model == "all-MiniLM-L6-v2"
    assert as_float.usage.prompt_tokens > 0
    assert as_float.usage.total_tokens == as_float.usage.prompt_tokens
    assert [d.index for d in as_float.data] == list(range(5))
    got_float = np.asarray([d.embedding for d in as_float.data], dtype=np.float32)
    got_b64 = np.asarray([d.embedding for d in as_default.data], dtype=np.float32)
    np.testing.assert_array_equal(got_float, reference[:5])
    np.testing.assert_array_equal(got_b64, reference[:5])

    single = client.embeddings.create(model="x", input=texts[7], encoding_format="float")
    np.testing.assert_array_equal(floats(single.data[0].embedding), reference[7])


def test_openai_dimensions_keep_the_first_values_renormalized(server, texts, reference):
    status, _, body = server.post("/v1/embeddings", {"input": texts[:2], "dimensions": 64,
                                                     "encoding_format": "base64"})
    assert status == 200
    for i, item in enumerate(body["data"]):
        vector = from_base64(item["embedding"])
        assert vector.shape == (64,)
        head = reference[i][:64].astype(np.float64)
        np.testing.assert_allclose(vector, head / np.linalg.norm(head), rtol=0, atol=1e-6)
        assert abs(np.linalg.norm(vector.astype(np.float64)) - 1) < 1e-5


def test_openai_token_id_inputs(server, texts):
    status, _, tokenized = server.post("/tokenize", {"inputs": texts[:2]})
    assert status == 200
    ids = [[t["id"] for t in tokens] for tokens in tokenized]
    by_text = server.post("/v1/embeddings", {"input": texts[:2], "encoding_format": "base64"})[2]
    by_ids = server.post("/v1/embeddings", {"input": ids, "encoding_format": "base64"})[2]
    one = server.post("/v1/embeddings", {"input": ids[0], "encoding_format": "base64"})[2]
    for i in range(2):
        assert by_ids["data"][i]["embedding"] == by_text["data"][i]["embedding"]
    assert one["data"][0]["embedding"] == by_text["data"][0]["embedding"]
    assert by_ids["usage"]["prompt_tokens"] == len(ids[0]) + len(ids[1])


def test_models_list(server):
    status, _, body = server.request("GET", "/v1/models")
    assert status == 200 and json.loads(body)["data"][0]["id"] == "all-MiniLM-L6-v2"


# --- TEI ----------------------------------------------------------------------------------------

def test_tei_embed(server, texts, reference):
    status, headers, body = server.post("/embed", {"inputs": texts[:3]})
    assert status == 200
    np.testing.assert_array_equal(floats(body), reference[:3])
    for name in TIMING_HEADERS:
        assert name in headers
    status, _, single = server.post("/embed", {"inputs": texts[0]})
    np.testing.assert_array_equal(floats(single), reference[:1])


def test_tei_normalize_false_and_dimensions(server, texts, reference):
    _, _, raw = server.post("/embed", {"inputs": texts[:2], "normalize": False})
    raw = floats(raw)
    assert abs(np.linalg.norm(raw[0]) - 1) > 1e-3  # MiniLM's raw mean pooling is not unit length
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), reference[:2],
                               atol=1e-6)
    _, _, short = server.post("/embed", {"inputs": texts[:2], "normalize": False, "dimensions": 8})
    np.testing.assert_array_equal(floats(short), raw[:, :8])  # not normalized: just cut


def test_tei_truncate_and_direction(server):
    long_text = "one two three four five six seven " * 80
    status, _, body = server.post("/embed", {"inputs": ["short", long_text]})
    assert status == 422 and body["error_type"] == "Validation"
    assert "inputs[1]" in body["error"]
    status, _, right = server.post("/embed", {"inputs": long_text, "truncate": True})
    assert status == 200
    status, _, left = server.post("/embed", {"inputs": long_text, "truncate": True,
                                             "truncation_direction": "Left"})
    assert status == 200 and left != right


def test_tokenize(server):
    status, _, body = server.post("/tokenize", {"inputs": "Hello, world!"})
    assert status == 200
    tokens = body[0]
    assert [t["id"] for t in tokens] == [101, 7592, 1010, 2088, 999, 102]
    assert tokens[0] == {"id": 101, "text": "[CLS]", "special": True, "start": None, "stop": None}
    assert tokens[2]["text"] == "," and tokens[2]["special"] is False
    _, _, plain = server.post("/tokenize", {"inputs": ["Hello"], "add_special_tokens": False})
    assert [t["id"] for t in plain[0]] == [7592]


def test_info_health_metrics(server):
    status, headers, body = server.request("GET", "/info")
    info = json.loads(body)
    assert status == 200
    assert info["model_id"] == "all-MiniLM-L6-v2" and info["dimensions"] == 384
    assert info["max_input_length"] == 256 and info["pooling"] == "mean"
    assert info["precision"] and info["version"] and info["max_client_batch_size"] == 2048
    # Balanced mode: the mode's fixed token budget, queries overtake through the express lane.
    assert info["max_batch_tokens"] == 8192 and info["adaptive_batch_tokens"] is False
    assert info["express_max_tokens"] == 128
    status, _, body = server.request("GET", "/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    server.post("/embed", {"inputs": "metrics please"})
    status, headers, body = server.request("GET", "/metrics")
    text = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain")
    for name in ("embedrt_requests_total{endpoint=\"/embed\",status=\"200\"}",
                 "embedrt_request_duration_seconds_bucket", "embedrt_queue_duration_seconds_count",
                 "embedrt_tokenization_duration_seconds_count",
                 "embedrt_inference_duration_seconds_count", "embedrt_batch_size_bucket",
                 "embedrt_batch_tokens_bucket", "embedrt_queue_depth", "embedrt_tokens_total",
                 "embedrt_cache_hits_total", "embedrt_cache_misses_total", "embedrt_cache_bytes",
                 "process_resident_memory_bytes"):
        assert name in text, name


# --- Errors -------------------------------------------------------------------------------------

def assert_openai_error(status, headers, body, expected_status, param=None, needle=None):
    assert status == expected_status, body
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if param is not None:
        assert error["param"] == param
    if needle is not None:
        assert needle in error["message"]
    for name in TIMING_HEADERS:
        assert name in headers


def assert_tei_error(status, body, expected_status, needle=None):
    assert status == expected_status, body
    error = json.loads(body)
    assert set(error) == {"error", "error_type"}
    if needle is not None:
        assert needle in error["error"]


@pytest.mark.parametrize("body,param", [
    ({"input": 5}, "input"),
    ({"input": []}, "input"),
    ({"input": ["a", 3]}, "input[1]"),
    ({"input": [[1, 2], "a"]}, "input[1]"),
    ({"input": [[1, -2]]}, "input[0][1]"),
    ({"input": [[]]}, "input[0]"),
    ({"input": [[101, 999999]]}, "input[0]"),
    ({"input": "x", "encoding_format": "hex"}, "encoding_format"),
    ({"input": "x", "dimensions": 0}, "dimensions"),
    ({"input": "x", "dimensions": 385}, "dimensions"),
    ({"input": "x", "dimensions": "8"}, "dimensions"),
    ({"input": "x", "model": 3}, "model"),
    ({"input": "x", "user": []}, "user"),
    ({}, "input"),
])
def test_openai_422_names_the_field(server, body, param):
    status, headers, data = server.request("POST", "/v1/embeddings", body)
    assert_openai_error(status, headers, data, 422, param=param)


def test_openai_422_for_a_non_object_body(server):
    status, headers, data = server.request("POST", "/v1/embeddings", [1, 2])
    assert_openai_error(status, headers, data, 422)


def test_400_for_malformed_json(server):
    status, headers, data = server.request("POST", "/v1/embeddings", b'{"input": ')
    assert_openai_error(status, headers, data, 400, needle="not valid JSON")
    status, _, data = server.request("POST", "/embed", b"{nope")
    assert_tei_error(status, data, 400)


def test_over_long_input_names_its_index(server):
    long_text = "word " * 600
    status, headers, data = server.request("POST", "/v1/embeddings",
                                           {"input": ["fine", "also fine", long_text]})
    assert_openai_error(status, headers, data, 422, param="input[2]", needle="input[2]")


def test_413_for_too_many_inputs_and_too_large_bodies(server):
    status, headers, data = server.request("POST", "/v1/embeddings", {"input": ["a"] * 2049})
    assert_openai_error(status, headers, data, 413, param="input")
    status, _, data = server.request("POST", "/embed", {"inputs": ["a"] * 2049})
    assert_tei_error(status, data, 413)
    big = json.dumps({"input": "x" * 2_100_000})
    status, headers, data = server.request("POST", "/v1/embeddings", big)
    assert_openai_error(status, headers, data, 413, needle="payload limit")


def test_404_and_405(server):
    status, headers, data = server.request("GET", "/nowhere")
    assert_tei_error(status, data, 404)
    assert "x-request-id" in headers
    status, headers, data = server.request("POST", "/v1/nowhere", {"input": "x"})
    assert_openai_error(status, headers, data, 404)
    status, headers, data = server.request("GET", "/v1/embeddings")
    assert_openai_error(status, headers, data, 405)
    assert headers["allow"] == "POST"
    status, headers, data = server.request("POST", "/health", {})
    assert_tei_error(status, data, 405)


def test_tei_422s(server):
    for body, needle in [({"inputs": "x", "normalize": "yes"}, "normalize"),
                         ({"inputs": "x", "truncate": 1}, "truncate"),
                         ({"inputs": "x", "truncation_direction": "up"}, "truncation_direction"),
                         ({"inputs": "x", "prompt_name": "query"}, "query"),
                         ({"inputs": []}, "inputs"),
                         ({"input": "x"}, "inputs")]:
        status, _, data = server.request("POST", "/embed", body)
        assert_tei_error(status, data, 422, needle)


def test_request_id_is_echoed_or_made(server):
    _, headers, _ = server.request("GET", "/health", headers={"x-request-id": "abc-123"})
    assert headers["x-request-id"] == "abc-123"
    _, first, _ = server.request("GET", "/health")
    _, second, _ = server.request("GET", "/health")
    assert first["x-request-id"] != second["x-request-id"]


def test_one_bad_request_does_not_disturb_others(server, texts, reference):
    good_body = {"input": texts[20:36], "encoding_format": "base64"}
    bad_body = {"input": ["ok", "word " * 600]}

    def good():
        status, _, body = server.post("/v1/embeddings", good_body)
        return status, body

    def bad():
        return server.post("/v1/embeddings", bad_body)[0]

    with ThreadPoolExecutor(8) as pool:
        goods = [pool.submit(good) for _ in range(4)]
        bads = [pool.submit(bad) for _ in range(4)]
        for f in bads:
            assert f.result() == 422
        for f in goods:
            status, body = f.result()
            assert status == 200
            got = np.stack([from_base64(d["embedding"]) for d in body["data"]])
            np.testing.assert_array_equal(got, reference[20:36])


# --- Cache, concurrency, disconnects --------------------------------------------------------------

def test_cache_hits_are_bit_identical(server, texts, reference):
    batch = texts[200:216]
    hits_before = server.metric("embedrt_cache_hits_total")
    first = server.post("/v1/embeddings", {"input": batch, "encoding_format": "base64"})[2]
    second = server.post("/v1/embeddings", {"input": batch, "encoding_format": "base64"})[2]
    assert server.metric("embedrt_cache_hits_total") >= hits_before + len(batch)
    assert first["data"] == second["data"]
    assert first["usage"] == second["usage"]
    got = np.stack([from_base64(d["embedding"]) for d in second["data"]])
    np.testing.assert_array_equal(got, reference[200:216])
    # The cache key holds the options that change the vector: unnormalized is not a hit.
    _, _, raw = server.post("/embed", {"inputs": batch[:1], "normalize": False})
    assert abs(np.linalg.norm(floats(raw[0])) - 1) > 1e-3


def test_32_concurrent_clients_match_offline_encode(server, texts, reference):
    rng = np.random.default_rng(5)
    plans = []
    for client in range(40):
        requests = []
        for _ in range(3):
            size = int(rng.integers(1, 17))
            idx = [int(i) for i in rng.choice(len(texts), size=size, replace=False)]
            requests.append((idx, bool(rng.integers(0, 2)), bool(rng.integers(0, 2))))
        plans.append(requests)
    failures = []
    barrier = threading.Barrier(len(plans))

    def run(requests):
        barrier.wait()
        for idx, as_base64, tei in requests:
            batch = [texts[i] for i in idx]
            if tei:
                status, _, body = server.post("/embed", {"inputs": batch})
                got = floats(body) if status == 200 else None
            else:
                status, _, body = server.post("/v1/embeddings", {
                    "input": batch, "encoding_format": "base64" if as_base64 else "float"})
                if status == 200:
                    rows = [d["embedding"] for d in body["data"]]
                    got = np.stack([from_base64(r) if as_base64 else floats(r) for r in rows])
            if status != 200:
                failures.append(f"status {status}: {body}")
                continue
            if not np.array_equal(got, reference[idx]):
                failures.append(f"mismatch for {idx}: max diff "
                                f"{np.abs(got - reference[idx]).max()}")

    with ThreadPoolExecutor(len(plans)) as pool:
        list(pool.map(run, plans))
    assert not failures, failures[:5]


def test_disconnected_client_is_dropped_from_the_queue(server, texts):
    dropped_before = server.metric("embedrt_dropped_texts_total")
    body = json.dumps({"input": [f"{t} ({i})" for i, t in enumerate(texts * 7)][:2000]}).encode()
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    time.sleep(0.5)
    sock.close()
    start = time.monotonic()
    status, _, _ = server.post("/v1/embeddings", {"input": "still served"}, timeout=30)
    assert status == 200
    assert time.monotonic() - start < 10  # not behind 2,000 abandoned texts
    deadline = time.monotonic() + 10
    while server.metric("embedrt_dropped_texts_total") <= dropped_before:
        assert time.monotonic() < deadline, "no texts were dropped"
        time.sleep(0.1)
