"""encode() releases the GIL and an Embedder may be shared between Python threads."""
import os
import threading
import time

import numpy as np
import pytest

import embedrt
from conftest import MINILM, corpus_texts, require


def test_threads_sharing_one_embedder_get_the_same_vectors():
    # No embedding cache: every call runs the model.
    minilm = embedrt.Embedder(str(require(MINILM)), cache_mb=0)
    texts = corpus_texts(160, seed=21)
    expected = minilm.encode(texts)
    results = [None] * 4
    errors = []

    def work(k):
        try:
            results[k] = minilm.encode(texts[k::4])
        except Exception as e:  # reported below; a thread's exception is otherwise lost
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for k in range(4):
        assert np.array_equal(results[k], expected[k::4])


def count_until(done: threading.Event, counts: list):
    n = 0
    while not done.is_set():
        n += 1
    counts.append(n)


def test_python_runs_while_encode_runs():
    """With the GIL held through encode(), another Python thread could run only until the call
    began (one switch interval, 5 ms); released, it counts all along."""
    model = embedrt.Embedder(str(require(MINILM)), threads=1, cache_mb=0)
    texts = corpus_texts(96, seed=4)
    model.encode(texts[:4])  # warm up outside the measurement

    # The counting rate on this machine now (under whatever load it has), alone for 0.2 s.
    done, counts = threading.Event(), []
    counter = threading.Thread(target=count_until, args=(done, counts))
    counter.start()
    time.sleep(0.2)
    done.set()
    counter.join()
    per_second = counts[0] / 0.2

    done, counts = threading.Event(), []
    counter = threading.Thread(target=count_until, args=(done, counts))
    counter.start()
    started = time.perf_counter()
    model.encode(texts)
    encode_seconds = time.perf_counter() - started
    done.set()
    counter.join()
    print(f"counted {counts[0]} during encode ({encode_seconds:.2f} s); alone {per_second:.0f}/s")
    # 4x what one switch interval allows; released, it is about encode_seconds' worth.
    assert encode_seconds > 0.1
    assert counts[0] > per_second * 0.02, (counts[0], per_second, encode_seconds)


def test_threads_with_their_own_embedders_get_the_same_vectors():
    """Concurrent calls on different Embedders (cache off: every call runs the model)."""
    models = [embedrt.Embedder(str(require(MINILM)), cache_mb=0, threads=1) for _ in range(4)]
    texts = corpus_texts(80, seed=22)
    expected = models[0].encode(texts)
    results = [None] * 4
    threads = [threading.Thread(target=lambda k=k: results.__setitem__(k, models[k].encode(
        texts[k::4]))) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        assert np.array_equal(results[k], expected[k::4])


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs at least 2 cores")
def test_four_threads_are_faster_than_one():
    """Four Python threads encoding at once, each with a 1-thread engine call, against the same
    work in one thread: with the GIL released the calls overlap on the cores there are."""
    # No embedding cache, or the second round would only look vectors up.
    model = embedrt.Embedder(str(require(MINILM)), threads=1, cache_mb=0)
    chunks = [corpus_texts(48, seed=s) for s in range(4)]
    model.encode(chunks[0])  # warm up

    def sequential():
        started = time.perf_counter()
        for chunk in chunks:
            model.encode(chunk)
        return time.perf_counter() - started

    def concurrent():
        threads = [threading.Thread(target=model.encode, args=(chunk,)) for chunk in chunks]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - started

    # Best of three rounds, so that a burst of load from other processes does not decide it.
    ratios = []
    for _ in range(3):
        one, four = sequential(), concurrent()
        ratios.append(one / four)
        if ratios[-1] > 1.3:
            break
    print(f"one thread / four threads wall time: {', '.join(f'{r:.2f}' for r in ratios)}")
    assert max(ratios) > 1.3, ratios
