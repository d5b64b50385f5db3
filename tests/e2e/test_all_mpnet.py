"""all-mpnet-base-v2, the real MPNet model (scripts/fetch_model.py all-mpnet-base-v2, linked into
the test data by make_test_data.sh), against sentence-transformers: parity on 512 corpus texts
and the STS-B dev Spearman. References from scripts/make_mpnet_fixtures.py."""
import io
import json

import numpy as np

from conftest import SHARED_DATA, TEST_DATA, jsonl_input, read_jsonl, require, run_cli
from test_encode_cli import encode, read_sts_dev

NAME = "all-mpnet-base-v2"
MODEL = TEST_DATA / "models" / NAME


def cosines(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_all_mpnet_base_v2_matches_sentence_transformers():
    require(MODEL / "config.json")
    fixture = require(TEST_DATA / "real-models" / NAME / "meta.json").parent
    texts = [r["text"] for r in read_jsonl(fixture / "texts.jsonl")]
    reference = np.load(fixture / "embeddings.npy")
    assert len(texts) >= 500
    got = encode(MODEL, texts)
    assert got.shape == reference.shape
    cos = cosines(got, reference)
    max_abs = float(np.abs(got - reference).max())
    print(f"{NAME}: {len(texts)} texts, min cosine {cos.min():.8f}, max |diff| {max_abs:.3g}")
    assert cos.min() >= 0.99999, f"min cosine {cos.min()} at text {int(cos.argmin())}"
    assert max_abs <= 1e-4


def test_all_mpnet_base_v2_sts_b_dev():
    from scipy.stats import spearmanr
    require(MODEL / "config.json")
    require(SHARED_DATA / "stsbenchmark" / "sts-dev.csv")
    reference = json.loads(require(TEST_DATA / "sts" / f"{NAME}.json").read_text())
    pairs = read_sts_dev()
    assert len(pairs) == reference["pairs"]
    # Each distinct sentence once, as the reference encodes them.
    sentences = list(dict.fromkeys(s for _, a, b in pairs for s in (a, b)))
    # 2,900 sentences through a 110M-parameter model: allow for a busy machine.
    out = run_cli("encode", "--model", MODEL, "--input-format", "jsonl", "--format", "npy",
                  "--output", "-", input_bytes=jsonl_input(sentences), timeout=3600)
    vectors = np.load(io.BytesIO(out.stdout))
    index = {s: i for i, s in enumerate(sentences)}
    a = vectors[[index[p[1]] for p in pairs]]
    b = vectors[[index[p[2]] for p in pairs]]
    spearman = spearmanr(cosines(a, b), [p[0] for p in pairs]).statistic
    print(f"{NAME} STS-B dev Spearman: embedrt {spearman:.6f}, sentence-transformers "
          f"{reference['spearman']:.6f}")
    assert abs(spearman - reference["spearman"]) <= 0.001
