#!/usr/bin/env python3
"""Load figures for `embedrt serve` on loopback (a benchmark, not a test; bounded in time).

1. Idle round trip: one short text per request, one client, keep-alive.
2. Load: --clients clients, each sending --texts-per-request STS-B sentences per request as fast
   as answers come (base64, as the OpenAI client asks), plus one probe client sending single-text
   requests; server throughput against offline `embedrt encode` on the same texts and threads,
   and the probe's latency percentiles.
3. Soak: mixed valid and invalid requests for --soak-seconds; errors on valid requests and the
   server's resident memory growth after warm-up.

    .venv/bin/python bench/bench_server.py --build build --threads 2 --out bench/results/server.json
"""
import argparse
import base64
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sts_sentences(path: Path, limit: int):
    seen, out = set(), []
    with open(path, encoding="utf-8") as f:
        for line in f:
            for text in line.rstrip("\n").split("\t")[5:7]:
                if text not in seen:
                    seen.add(text)
                    out.append(text)
    return out[:limit]


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(p / 100 * (len(ordered) - 1)))))
    return ordered[k]


class Server:
    def __init__(self, cli, model, *args):
        self.proc = subprocess.Popen([cli, "serve", "--model", model, "--port", "0", *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.port = None
        for raw in self.proc.stderr:
            match = re.search(r"listening on http://[^:]+:(\d+)", raw.decode())
            if match:
                self.port = int(match.group(1))
                break
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if self.get("/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not become ready")

    def connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)

    def get(self, path):
        conn = self.connection()
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def metrics(self):
        values = {}
        for line in self.get("/metrics")[1].decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


def post(conn, path, body):
    data = json.dumps(body) if not isinstance(body, bytes) else body
    conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    return r.status, r.read()


def offline_throughput(cli, model, texts, threads, engine_args):
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "texts.jsonl"
        inp.write_text("".join(json.dumps(t) + "\n" for t in texts), encoding="utf-8")
        prof = Path(tmp) / "profile.json"
        start = time.monotonic()
        subprocess.run([cli, "encode", "--model", model, "--input", str(inp), "--input-format",
                        "jsonl", "--format", "npy", "--output", str(Path(tmp) / "out.npy"),
                        "--threads", str(threads), "--cache-mb", "0", "--profile-json", str(prof),
                        *engine_args],
                       check=True, capture_output=True)
        wall = time.monotonic() - start
        profile = json.loads(prof.read_text())
        seconds = profile.get("total_ms", wall * 1000) / 1000
        return len(texts) / seconds


def idle_round_trip(server, texts, count=300):
    conn = server.connection()
    latencies = []
    for i in range(count):
        start = time.perf_counter()
        status, _ = post(conn, "/v1/embeddings", {"input": texts[i % len(texts)]})
        latencies.append((time.perf_counter() - start) * 1000)
        assert status == 200
    conn.close()
    return latencies[20:]  # after warm-up


def load(server, texts, clients, per_request, seconds, probe_interval):
    stop = threading.Event()
    done = [0] * clients
    errors = []
    probe_latencies = []
    warm = threading.Event()

    def client(k):
        rng = random.Random(k)
        conn = server.connection()
        while not stop.is_set():
            batch = rng.sample(texts, per_request)
            status, body = post(conn, "/v1/embeddings",
                                {"input": batch, "encoding_format": "base64"})
            if status != 200:
                errors.append(status)
                continue
            data = json.loads(body)["data"]
            if len(data) != per_request or len(base64.b64decode(data[0]["embedding"])) != 384 * 4:
                errors.append("shape")
            if warm.is_set() and not stop.is_set():
                done[k] += per_request

    # The probe stands for interactive queries arriving now and then: paced, so that its own
    # batches of one (the least efficient kind) do not take a large share of the model's time
    # away from the clients whose throughput is measured.
    def probe():
        rng = random.Random(1000)
        conn = server.connection()
        next_send = time.perf_counter()
        while not stop.is_set():
            next_send += probe_interval
            start = time.perf_counter()
            status, _ = post(conn, "/v1/embeddings", {"input": rng.choice(texts)})
            if warm.is_set() and not stop.is_set():
                probe_latencies.append((time.perf_counter() - start) * 1000)
            if status != 200:
                errors.append(status)
            time.sleep(max(0.0, next_send - time.perf_counter()))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    threads.append(threading.Thread(target=probe))
    for t in threads:
        t.start()
    time.sleep(3)  # every client has a request queued; the token budget has adapted
    before = server.metrics()
    warm.set()
    start = time.monotonic()
    time.sleep(seconds)
    after = server.metrics()
    stop.set()
    elapsed = time.monotonic() - start
    for t in threads:
        t.join()

    def delta(name):
        return after.get(name, 0) - before.get(name, 0)

    inference = delta("embedrt_batch_duration_seconds_sum")
    return {
        "texts_per_second": sum(done) / elapsed,
        "server_texts_per_second": delta("embedrt_inputs_total") / elapsed,
        "probe_p50_ms": percentile(probe_latencies, 50),
        "probe_p99_ms": percentile(probe_latencies, 99),
        "probe_requests": len(probe_latencies),
        "errors": len(errors),
        "batches": delta("embedrt_batch_duration_seconds_count"),
        "mean_batch_texts": delta("embedrt_batch_size_sum") / max(1, delta("embedrt_batch_size_count")),
        "mean_batch_tokens": delta("embedrt_batch_tokens_sum") / max(1, delta("embedrt_batch_tokens_count")),
        "model_busy_fraction": inference / elapsed,
        "parse_ms_per_request": 1000 * delta("embedrt_request_parse_duration_seconds_sum") /
        max(1, delta("embedrt_request_parse_duration_seconds_count")),
        "encode_ms_per_request": 1000 * delta("embedrt_response_encode_duration_seconds_sum") /
        max(1, delta("embedrt_response_encode_duration_seconds_count")),
        "inference_ms_per_request": 1000 * delta("embedrt_inference_duration_seconds_sum") /
        max(1, delta("embedrt_inference_duration_seconds_count")),
        "token_budget": after.get("embedrt_batch_token_budget"),
    }


def soak(server, texts, seconds, clients=8):
    """Mixed traffic; returns errors on valid requests and RSS figures."""
    long_text = "word " * 600
    invalid = [
        ("/v1/embeddings", b"{not json", 400),
        ("/v1/embeddings", {"input": []}, 422),
        ("/v1/embeddings", {"input": ["a", 1]}, 422),
        ("/v1/embeddings", {"input": ["ok", long_text]}, 422),
        ("/v1/embeddings", {"input": "x", "dimensions": 9999}, 422),
        ("/embed", {"inputs": ["a"] * 3000}, 413),
        ("/embed", {"inputs": "x", "truncation_direction": "up"}, 422),
        ("/nowhere", {"inputs": "x"}, 404),
    ]
    stop = threading.Event()
    valid_errors, invalid_mismatch, counts = [], [], [0, 0]

    def client(k):
        rng = random.Random(100 + k)
        conn = server.connection()
        while not stop.is_set():
            try:
                if rng.random() < 0.3:
                    path, body, expected = rng.choice(invalid)
                    status, _ = post(conn, path, body)
                    counts[1] += 1
                    if status != expected:
                        invalid_mismatch.append((path, status, expected))
                    if status in (404, 413):  # the server may close after answering early
                        conn.close()
                        conn = server.connection()
                    continue
                batch = rng.sample(texts, rng.randint(1, 16))
                kind = rng.random()
                if kind < 0.4:
                    status, body = post(conn, "/v1/embeddings", {"input": batch,
                                                                  "encoding_format": "base64"})
                    ok = status == 200 and len(json.loads(body)["data"]) == len(batch)
                elif kind < 0.6:
                    status, body = post(conn, "/v1/embeddings", {"input": batch, "dimensions": 128})
                    ok = status == 200 and len(json.loads(body)["data"][0]["embedding"]) == 128
                elif kind < 0.9:
                    status, body = post(conn, "/embed", {"inputs": batch})
                    ok = status == 200 and len(json.loads(body)) == len(batch)
                else:
                    status, body = post(conn, "/tokenize", {"inputs": batch})
                    ok = status == 200
                counts[0] += 1
                if not ok:
                    valid_errors.append(status)
            except (OSError, http.client.HTTPException) as e:
                valid_errors.append(repr(e))
                conn.close()
                conn = server.connection()
            if rng.random() < 0.02:  # a client that hangs up mid-request
                s = server.connection()
                s.connect()
                body = json.dumps({"input": rng.sample(texts, 16)}).encode()
                s.sock.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                               str(len(body)).encode() + b"\r\n\r\n" + body)
                s.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    warm_up = min(60.0, seconds * 0.1)
    time.sleep(warm_up)
    rss_start = server.metrics()["process_resident_memory_bytes"]
    samples = [rss_start]
    end = time.monotonic() + seconds - warm_up
    while time.monotonic() < end:
        time.sleep(min(10, max(0.1, end - time.monotonic())))
        samples.append(server.metrics()["process_resident_memory_bytes"])
    stop.set()
    for t in threads:
        t.join()
    return {
        "seconds": seconds,
        "valid_requests": counts[0],
        "invalid_requests": counts[1],
        "errors_on_valid": len(valid_errors),
        "error_examples": [str(e) for e in valid_errors[:5]],
        "unexpected_invalid_statuses": len(invalid_mismatch),
        "rss_after_warmup_mb": rss_start / 2**20,
        "rss_end_mb": samples[-1] / 2**20,
        "rss_max_mb": max(samples) / 2**20,
        "rss_growth_percent": 100 * (samples[-1] - rss_start) / rss_start,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default="build", help="build folder holding the embedrt binary")
    parser.add_argument("--model", default=str(ROOT / "test-data/models/all-MiniLM-L6-v2"))
    parser.add_argument("--sts", default=str(ROOT.parent / "shared/data/stsbenchmark/sts-dev.csv"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--texts-per-request", type=int, default=16)
    parser.add_argument("--load-seconds", type=float, default=30)
    parser.add_argument("--soak-seconds", type=float, default=60)
    parser.add_argument("--engine-args", default="",
                        help="engine flags for both `serve` and the offline `encode`, e.g. "
                        "'--optimize latency'")
    parser.add_argument("--server-args", default="", help="extra `embedrt serve` arguments")
    parser.add_argument("--probe-interval-ms", type=float, default=200,
                        help="the single-text probe sends one request this often under load")
    parser.add_argument("--skip", default="", help="comma-separated: idle,load,offline,soak")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()
    cli = str(Path(args.build) / "embedrt")
    texts = sts_sentences(Path(args.sts), 3000)
    skip = set(filter(None, args.skip.split(",")))
    results = {"cpu": cpu_name(), "threads": args.threads, "clients": args.clients,
               "texts_per_request": args.texts_per_request, "engine_args": args.engine_args,
               "server_args": args.server_args, "probe_interval_ms": args.probe_interval_ms}
    engine_args = args.engine_args.split()
    extra = engine_args + args.server_args.split()

    # The machine's speed drifts from minute to minute (shared host), so offline throughput is
    # measured right before and right after the server's phases and the ratio uses their mean.
    offline_runs = []

    def measure_offline():
        offline_runs.append(offline_throughput(cli, args.model, texts[:2048], args.threads,
                                               engine_args))
        print("offline texts/s:", offline_runs[-1], flush=True)

    if "offline" not in skip:
        measure_offline()
    if not {"idle", "load"} <= skip:
        server = Server(cli, args.model, "--threads", str(args.threads), "--cache-mb", "0", *extra)
        try:
            if "idle" not in skip:
                lat = idle_round_trip(server, texts)
                results["idle"] = {"p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99),
                                   "mean_ms": sum(lat) / len(lat)}
                print("idle:", results["idle"], flush=True)
            if "load" not in skip:
                results["load"] = load(server, texts, args.clients, args.texts_per_request,
                                       args.load_seconds, args.probe_interval_ms / 1000)
                print("load:", results["load"], flush=True)
        finally:
            server.stop()
    if "offline" not in skip:
        measure_offline()
        results["offline_texts_per_second_runs"] = offline_runs
        results["offline_texts_per_second"] = sum(offline_runs) / len(offline_runs)
        if "load" in results:
            results["load"]["ratio_to_offline"] = (results["load"]["texts_per_second"] /
                                                   results["offline_texts_per_second"])
            print("ratio:", results["load"]["ratio_to_offline"], flush=True)
    if "soak" not in skip:
        server = Server(cli, args.model, "--threads", str(args.threads), *extra)
        try:
            results["soak"] = soak(server, texts, args.soak_seconds)
            print("soak:", results["soak"], flush=True)
        finally:
            results["soak_exit_code"] = server.stop()
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f", {os.cpu_count()} cores"
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
