#!/usr/bin/env python3
"""embedrt against sentence-transformers (torch), ONNX Runtime and OpenVINO, side by side in one
run: same texts, same thread count, each peer and workload in its own child process (so peak
RSS is that peer's), in rounds that run every peer on every workload in turn (so the host's drift
moves all peers alike). Writes a JSON file and the peers section of docs/benchmarks.md.

    bench/setup_peers.sh                       # .venv-peers: torch, sentence-transformers, ORT, OpenVINO
    cmake --build build-bench --target embedrt_encode_throughput embedrt_gemm_peak
    .venv-peers/bin/python bench/bench_peers.py --build build-bench            # full run (~25 min)
    .venv-peers/bin/python bench/bench_peers.py --build build-bench --quick    # smoke run (< 3 min)
    .venv-peers/bin/python bench/bench_peers.py --build build-bench --model ~/.cache/embedrt/models/all-mpnet-base-v2

--model takes any model folder of a supported family (the ONNX export knows BERT and MPNet);
each model's results go to their own section of docs/benchmarks.md.

Modes: embedrt fp32 / int8 / bf16 (the precision the engine reports it computes in, not the one
asked for), sentence-transformers torch fp32 (the accuracy reference), ONNX Runtime fp32 and
int8 (dynamic quantization), OpenVINO fp32 and int8 (static quantization with NNCF). Exported
models are cached under BUILD/peers-models.
"""
import argparse
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_encode import spread, sts_sentences  # noqa: E402

DEFAULT_MODEL = Path.home() / ".cache/embedrt/models/all-MiniLM-L6-v2"
DEFAULT_STS = ROOT.parent / "shared/data/stsbenchmark/sts-dev.csv"

# Accuracy gates of the performance issue (cosine against sentence-transformers fp32).
GATE_MEAN, GATE_MIN = 0.995, 0.98

MODES = [
    # name, engine, requested precision
    ("embedrt fp32", "embedrt", "fp32"),
    ("embedrt int8", "embedrt", "int8"),
    ("embedrt bf16", "embedrt", "bf16"),
    ("sentence-transformers torch fp32", "torch", "fp32"),
    ("ONNX Runtime fp32", "onnxruntime", "fp32"),
    ("ONNX Runtime int8", "onnxruntime", "int8"),
    ("OpenVINO fp32", "openvino", "fp32"),
    ("OpenVINO int8", "openvino", "int8"),
]
REFERENCE = "sentence-transformers torch fp32"


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def cpu_flags() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            wanted = ["avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni",
                      "amx_bf16", "amx_int8"]
            return " ".join(f for f in wanted if f in flags)
    return ""


# --------------------------------------------------------------------------------------------
# Workloads


def joined_texts(sentences, tokenizer, target_tokens, count, start=0):
    """Texts of about `target_tokens` tokens (special tokens included), made by joining
    consecutive sentences."""
    texts, current, i = [], [], start
    while len(texts) < count:
        current.append(sentences[i % len(sentences)])
        i += 1
        if len(tokenizer.encode(" ".join(current)).ids) > target_tokens:
            texts.append(" ".join(current[:-1]) if len(current) > 1 else current[0])
            current = [current[-1]] if len(current) > 1 else []
    return texts


def model_shape(model_dir: Path) -> dict:
    config = json.loads((model_dir / "config.json").read_text())
    return {"hidden": config["hidden_size"], "layers": config["num_hidden_layers"],
            "ffn": config["intermediate_size"], "heads": config["num_attention_heads"],
            "model_type": config.get("model_type", "bert"), "pad_token_id": config.get("pad_token_id") or 0}


def configured_max_length(model_dir: Path):
    path = model_dir / "sentence_bert_config.json"
    return json.loads(path.read_text()).get("max_seq_length") if path.exists() else None


def model_flops(lengths, shape) -> float:
    """Useful FLOPs of one pass over texts of the given token counts (padding excluded):
    per layer and text of n tokens, 2·n·(4h² + 2hf) in the linear layers (QKV, attention output,
    FFN up, FFN down) plus 4·n²·h in attention (QKᵀ and PV)."""
    h, f, layers = shape["hidden"], shape["ffn"], shape["layers"]
    linear = 2 * (4 * h * h + 2 * h * f)
    return float(sum(layers * (n * linear + 4 * n * n * h) for n in lengths))


# --------------------------------------------------------------------------------------------
# Child processes


def child_env(threads: int) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
        env[var] = str(threads)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="true", PYTHONWARNINGS="ignore")
    return env


def run_child(cmd, env, log: Path, timeout: float):
    """Runs cmd; returns (stdout, exit status, peak RSS in MB of that child alone)."""
    with open(log, "w") as err, tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return out.read(), proc.returncode, usage.ru_maxrss / 1024.0


def last_json(text: str):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON object in the child's output")


def tail(path: Path, lines=6) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


# ---- Python peers (run as `bench_peers.py --child SPEC`) -------------------------------------


def _st_like_batches(texts, batch_size):
    """sentence-transformers' order: longest texts first, batches of batch_size."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    for s in range(0, len(order), batch_size):
        yield order[s:s + batch_size]


class OrtEncoder:
    """Tokenize (the model's tokenizer.json through HF tokenizers, the fast tokenizer
    sentence-transformers uses), run the exported transformer in ONNX Runtime, mean-pool and
    L2-normalize: sentence-transformers' pipeline for this model with ONNX Runtime doing the
    transformer, without importing torch or transformers (so their memory is not counted)."""

    def __init__(self, model_dir, onnx_path, threads, max_length):
        import numpy as np
        import onnxruntime as ort
        from tokenizers import Tokenizer
        self.np = np
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(onnx_path), so,
                                            providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length)
        # Pad as sentence-transformers does, with the model's pad token (MPNet's positions skip it).
        pad_id = model_shape(Path(model_dir))["pad_token_id"]
        self.tokenizer.enable_padding(pad_id=pad_id, pad_token=self.tokenizer.id_to_token(pad_id))

    def encode(self, texts, batch_size=32):
        np = self.np
        out = None
        for idx in _st_like_batches(texts, batch_size):
            encs = self.tokenizer.encode_batch([texts[i] for i in idx])
            mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
            feeds = {"input_ids": np.array([e.ids for e in encs], dtype=np.int64),
                     "attention_mask": mask,
                     "token_type_ids": np.array([e.type_ids for e in encs], dtype=np.int64)}
            hidden = self.session.run(None, {k: v for k, v in feeds.items()
                                             if k in self.inputs})[0]
            m = mask.astype(np.float32)[:, :, None]
            pooled = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            if out is None:
                out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
            out[idx] = pooled
        return out


def latency_summary(ms) -> dict:
    """p50, p99 and count of batch-1 latencies in ms."""
    ms = sorted(ms)
    return {"single_ms_p50": ms[len(ms) // 2],
            "single_ms_p99": ms[min(len(ms) - 1, int(0.99 * len(ms)))], "single_count": len(ms)}


def pool_rounds(prior, r):
    """Adds an earlier round's passes and latencies (prior, or None) to this round's result r."""
    r["rounds"] = [r["texts_per_second_median"]]
    if prior is not None:
        r["texts_per_second_runs"] = prior["texts_per_second_runs"] + r["texts_per_second_runs"]
        r["rounds"] = prior["rounds"] + r["rounds"]
        r["single_ms"] = prior.get("single_ms", []) + r.get("single_ms", [])
        r["peak_rss_mb"] = max(prior["peak_rss_mb"], r["peak_rss_mb"])
        r["load_seconds"] = prior["load_seconds"]
    r["texts_per_second_median"] = statistics.median(r["texts_per_second_runs"])
    if r.get("single_ms"):
        r.update(latency_summary(r["single_ms"]))
    return r


def child_main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    import numpy as np
    threads, bs = spec["threads"], spec["batch_size"]
    texts = spec["texts"]
    extra = {}
    start = time.perf_counter()
    if spec["engine"] == "torch":
        import torch
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        from sentence_transformers import SentenceTransformer
        model = SentenceTransformer(spec["model"], device="cpu")
        model.max_seq_length = spec["max_length"]

        def encode(batch, size):
            with torch.inference_mode():
                return model.encode(batch, batch_size=size, convert_to_numpy=True)
        extra["precision_effective"] = "fp32"
    elif spec["engine"] == "openvino":
        from sentence_transformers import SentenceTransformer
        ov_config = {"INFERENCE_NUM_THREADS": str(threads), "PERFORMANCE_HINT": "LATENCY",
                     "NUM_STREAMS": "1", "CACHE_DIR": ""}
        model = SentenceTransformer(spec["artifact_dir"], device="cpu", backend="openvino",
                                    model_kwargs={"file_name": spec["file_name"],
                                                  "ov_config": ov_config})
        model.max_seq_length = spec["max_length"]
        model.encode(["compile"], batch_size=1)  # optimum-intel compiles on first use
        compiled = getattr(model[0].auto_model, "request", None)
        if compiled is not None and not hasattr(compiled, "get_property"):
            compiled = compiled.get_compiled_model()
        if compiled is not None:
            for key in ("INFERENCE_PRECISION_HINT", "INFERENCE_NUM_THREADS", "NUM_STREAMS",
                        "PERFORMANCE_HINT"):
                value = compiled.get_property(key)
                extra["ov_" + key.lower()] = (value.to_string() if hasattr(value, "to_string")
                                              else str(value))
        extra["precision_effective"] = spec["precision"]

        def encode(batch, size):
            return model.encode(batch, batch_size=size, convert_to_numpy=True)
    elif spec["engine"] == "onnxruntime":
        model = OrtEncoder(spec["model"], spec["artifact"], threads, spec["max_length"])
        extra["precision_effective"] = spec["precision"]

        def encode(batch, size):
            return model.encode(batch, batch_size=size)
    else:
        raise SystemExit(f"unknown engine {spec['engine']}")
    load_seconds = time.perf_counter() - start

    encode(texts[:spec["warmup"]], bs)
    rates, emb = [], None
    for _ in range(spec["repeats"]):
        t0 = time.perf_counter()
        emb = encode(texts, bs)
        rates.append(len(texts) / (time.perf_counter() - t0))
    np.save(spec["embeddings"], np.asarray(emb, dtype=np.float32))
    result = {"load_seconds": load_seconds, "texts_per_second_median": statistics.median(rates),
              "texts_per_second_runs": rates, **extra}
    singles = texts[:spec["single_latency"]]
    if singles:
        for t in singles[:20]:
            encode([t], 1)
        ms = []
        for t in singles:
            t0 = time.perf_counter()
            encode([t], 1)
            ms.append((time.perf_counter() - t0) * 1e3)
        result["single_ms"] = ms
        result.update(latency_summary(ms))
    print(json.dumps(result))


# ---- model preparation (exports, quantization) ----------------------------------------------


def prepare_main(spec_path: str) -> None:
    """Exports the ONNX and OpenVINO models (and their int8 versions) into spec['dir'], offline.
    Prints a JSON object: per artifact its path or why it could not be made."""
    spec = json.loads(Path(spec_path).read_text())
    out_dir, model_dir = Path(spec["dir"]), Path(spec["model"])
    out_dir.mkdir(parents=True, exist_ok=True)
    shape = model_shape(model_dir)
    report = {}
    import torch
    torch.set_num_threads(spec["threads"])

    # ONNX: the transformer (token embeddings out), exported with torch.onnx, then ONNX Runtime's
    # BERT graph fusions (attention, LayerNorm, GELU) applied offline; int8 = dynamic quantization
    # of the fused graph (int8 weights per output channel, u8 activations per tensor at run time).
    onnx_plain = out_dir / "onnx" / "model.onnx"
    onnx_fp32 = out_dir / "onnx" / "model_optimized.onnx"
    onnx_int8 = out_dir / "onnx" / "model_optimized_qint8.onnx"
    try:
        if not onnx_plain.exists():
            from transformers import AutoModel
            onnx_plain.parent.mkdir(parents=True, exist_ok=True)
            hf = AutoModel.from_pretrained(str(model_dir)).eval()
            check = torch.randint(100, 2000, (2, 24))
            check_mask = torch.ones_like(check)
            check_mask[1, 12:] = 0

            class Wrapper(torch.nn.Module):
                """BERT's forward written out in the classic transformers-4 form, with the
                model's own weights: the graph ONNX Runtime's BERT fusions recognize (the
                transformers-5 mask helpers do not trace)."""

                def __init__(self, m):
                    super().__init__()
                    self.m, self.heads = m, m.config.num_attention_heads
                    self.dh = m.config.hidden_size // self.heads

                def split(self, x):
                    return x.view(x.size()[:-1] + (self.heads, self.dh)).permute(0, 2, 1, 3)

                def forward(self, input_ids, attention_mask, token_type_ids):
                    h = self.m.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
                    ext = (1.0 - attention_mask[:, None, None, :].to(h.dtype)) * -10000.0
                    for layer in self.m.encoder.layer:
                        a = layer.attention
                        q, k = self.split(a.self.query(h)), self.split(a.self.key(h))
                        v = self.split(a.self.value(h))
                        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dh) + ext
                        ctx = torch.matmul(torch.softmax(scores, -1), v).permute(0, 2, 1, 3)
                        ctx = ctx.contiguous().view(ctx.size()[:-2] + (self.heads * self.dh,))
                        h = a.output.LayerNorm(a.output.dense(ctx) + h)
                        i = layer.intermediate.intermediate_act_fn(layer.intermediate.dense(h))
                        h = layer.output.LayerNorm(layer.output.dense(i) + h)
                    return h

            class MPNetWrapper(Wrapper):
                """MPNet in the same form: no token types, positions from the ids (pad id 1 skipped),
                the relative position bias added to every layer's scores."""

                def forward(self, input_ids, attention_mask):
                    h = self.m.embeddings(input_ids=input_ids)
                    ext = (1.0 - attention_mask[:, None, None, :].to(h.dtype)) * -10000.0
                    bias = self.m.encoder.compute_position_bias(h) + ext
                    for layer in self.m.encoder.layer:
                        a = layer.attention
                        q, k, v = self.split(a.attn.q(h)), self.split(a.attn.k(h)), self.split(a.attn.v(h))
                        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dh) + bias
                        ctx = torch.matmul(torch.softmax(scores, -1), v).permute(0, 2, 1, 3)
                        ctx = ctx.contiguous().view(ctx.size()[:-2] + (self.heads * self.dh,))
                        h = a.LayerNorm(a.attn.o(ctx) + h)
                        i = layer.intermediate.intermediate_act_fn(layer.intermediate.dense(h))
                        h = layer.output.LayerNorm(layer.output.dense(i) + h)
                    return h

            ids = torch.full((2, 16), 5, dtype=torch.long)  # not MPNet's pad id 1
            mask = torch.ones(2, 16, dtype=torch.long)
            axes = {0: "batch", 1: "sequence"}
            names = ["input_ids", "attention_mask", "token_type_ids"]
            wrapper, inputs = Wrapper(hf), (ids, mask, torch.zeros_like(ids))
            check_inputs = dict(input_ids=check, attention_mask=check_mask,
                                token_type_ids=torch.zeros_like(check))
            if shape["model_type"] == "mpnet":
                names, wrapper, inputs = names[:2], MPNetWrapper(hf), inputs[:2]
                check_inputs.pop("token_type_ids")
            elif shape["model_type"] != "bert":
                raise RuntimeError(f"no ONNX export for model_type {shape['model_type']}")
            kwargs = dict(input_names=names, output_names=["token_embeddings"], opset_version=17,
                          dynamic_axes={n: axes for n in names + ["token_embeddings"]})
            with torch.no_grad():
                want = hf(**check_inputs).last_hidden_state
                got = wrapper(*check_inputs.values())
            err = (want - got)[check_mask.bool()].abs().max().item()
            if err > 1e-4:
                raise RuntimeError(f"export wrapper differs from the model by {err}")
            try:
                torch.onnx.export(wrapper, inputs, str(onnx_plain), dynamo=False, **kwargs)
            except TypeError:
                torch.onnx.export(wrapper, inputs, str(onnx_plain), **kwargs)
        report["onnx_export"] = str(onnx_plain)
    except Exception as e:  # noqa: BLE001 - reported, the modes are skipped
        report["onnx_export_error"] = f"{type(e).__name__}: {e}"
    if onnx_plain.exists():
        try:
            if not onnx_fp32.exists():
                from onnxruntime.transformers.optimizer import optimize_model
                opt = optimize_model(str(onnx_plain), model_type="bert",
                                     num_heads=shape["heads"], hidden_size=shape["hidden"],
                                     opt_level=0)
                opt.save_model_to_file(str(onnx_fp32))
            report["onnx_fp32"] = str(onnx_fp32)
            import onnx
            from collections import Counter
            ops = Counter(n.op_type for n in onnx.load(str(onnx_fp32)).graph.node)
            report["onnx_fused_ops"] = {k: ops[k] for k in ("EmbedLayerNormalization", "Attention",
                                                             "SkipLayerNormalization", "BiasGelu")}
        except Exception as e:  # noqa: BLE001
            report["onnx_optimize_error"] = f"{type(e).__name__}: {e}"
            onnx_fp32 = onnx_plain
            report["onnx_fp32"] = str(onnx_plain)
            report["onnx_fp32_graph"] = "torch.onnx export (fusions failed)"
        try:
            if not onnx_int8.exists():
                import onnx
                from onnxruntime.quantization import QuantType, quantize_dynamic
                # The fused graph's contrib ops defeat ONNX shape inference: name the type.
                quantize_dynamic(str(onnx_fp32), str(onnx_int8), weight_type=QuantType.QInt8,
                                 per_channel=True,
                                 extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
            report["onnx_int8"] = str(onnx_int8)
        except Exception as e:  # noqa: BLE001
            report["onnx_int8_error"] = f"{type(e).__name__}: {e}"

    # OpenVINO: sentence-transformers' backend="openvino" export (optimum-intel), saved once;
    # int8 = NNCF post-training static quantization of that IR, calibrated on STS-B sentences.
    ov_dir = out_dir / "st-openvino"
    ov_xml = ov_dir / "openvino" / "openvino_model.xml"
    ov_int8 = ov_dir / "openvino" / "openvino_model_qint8_static.xml"
    try:
        if not ov_xml.exists():
            from sentence_transformers import SentenceTransformer
            st = SentenceTransformer(str(model_dir), device="cpu", backend="openvino")
            st.save(str(ov_dir))
        if not ov_xml.exists():
            raise FileNotFoundError(f"the export did not write {ov_xml}")
        report["openvino_dir"] = str(ov_dir)
        report["openvino_fp32"] = "openvino/openvino_model.xml"
    except Exception as e:  # noqa: BLE001
        report["openvino_export_error"] = f"{type(e).__name__}: {e}"
    if ov_xml.exists():
        try:
            if not ov_int8.exists():
                import nncf
                import numpy as np
                import openvino as ov
                from transformers import AutoTokenizer
                tok = AutoTokenizer.from_pretrained(str(model_dir))
                core = ov.Core()
                ov_model = core.read_model(str(ov_xml))
                names = [i.get_any_name() for i in ov_model.inputs]
                samples = []
                for text in spec["calibration"]:
                    enc = tok([text], return_tensors="np", truncation=True, max_length=512)
                    samples.append({n: enc[n].astype(np.int64) for n in names if n in enc})
                quantized = nncf.quantize(ov_model, nncf.Dataset(samples),
                                          model_type=nncf.ModelType.TRANSFORMER,
                                          subset_size=len(samples))
                ov.save_model(quantized, str(ov_int8))
            report["openvino_int8"] = "openvino/" + ov_int8.name
        except Exception as e:  # noqa: BLE001
            report["openvino_int8_error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(report))


# --------------------------------------------------------------------------------------------
# The harness


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                             capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, text=True, capture_output=True).stdout.strip()
        return rev + ("+uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def peer_versions() -> dict:
    from importlib import metadata
    versions = {}
    for name in ("torch", "sentence-transformers", "transformers", "tokenizers", "onnxruntime",
                 "onnx", "openvino", "optimum-intel", "optimum", "nncf", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cosine_stats(a, b):
    import numpy as np
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    cos = (a * b).sum(1)
    return {"mean": float(cos.mean()), "min": float(cos.min()), "n": int(len(cos))}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        return child_main(sys.argv[2])
    if len(sys.argv) == 3 and sys.argv[1] == "--prepare":
        return prepare_main(sys.argv[2])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(ROOT / "build-bench"),
                        help="build folder holding bench/embedrt_encode_throughput")
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--sts", default=str(DEFAULT_STS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed passes per workload and round (default 1; quick: 2)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="times every mode runs every workload, interleaved (default 3; "
                        "quick: 1)")
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer texts and repeats")
    parser.add_argument("--modes", default="", help="comma-separated subset of mode names")
    parser.add_argument("--texts", type=int, default=None,
                        help="STS-B sentences in the short workload, taken evenly over the set "
                        "(default: all; quick: 600)")
    parser.add_argument("--single-latency", type=int, default=None,
                        help="texts timed one per call (default 300; quick: 50)")
    parser.add_argument("--workloads", default="",
                        help="comma-separated subset of short,medium,long (default: all)")
    parser.add_argument("--out", default=str(ROOT / "bench/results/peers.json"))
    parser.add_argument("--doc", default=str(ROOT / "docs/benchmarks.md"),
                        help="Markdown file whose peers section is rewritten ('' = none)")
    parser.add_argument("--section", default=None,
                        help="name of that section's markers (default: 'peers' for "
                        "all-MiniLM-L6-v2, 'peers-<model folder name>' for other models)")
    parser.add_argument("--render", metavar="JSON",
                        help="only rewrite the Markdown section from a results file")
    args = parser.parse_args()
    if args.render:
        report = json.loads(Path(args.render).read_text())
        section = markdown(report)
        print(section)
        if args.doc:
            write_section(Path(args.doc), section, args.section or section_name(report["model"]))
        return
    started = time.time()
    quick = args.quick
    repeats = args.repeats or (2 if quick else 1)
    rounds = args.rounds or (1 if quick else 3)
    build = Path(args.build).resolve()
    model_dir = Path(args.model).expanduser().resolve()
    tool = build / "bench" / "embedrt_encode_throughput"
    gemm_tool = build / "bench" / "embedrt_gemm_peak"
    for path in (tool, gemm_tool):
        if not path.exists():
            raise SystemExit(f"{path} is missing: cmake --build {args.build} --target "
                             "embedrt_encode_throughput embedrt_gemm_peak")
    work = Path(tempfile.mkdtemp(prefix="embedrt-peers-"))
    env = child_env(args.threads)
    load_before = os.getloadavg()
    log = lambda msg: print(f"[{time.time() - started:6.0f}s] {msg}", file=sys.stderr, flush=True)

    # Workloads.
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    sentences = sts_sentences(Path(args.sts))
    shape = model_shape(model_dir)
    n_short, n_medium, n_long = (600, 64, 16) if quick else (len(sentences), 256, 64)
    n_short = args.texts or n_short
    workloads = [
        {"name": "short", "label": "short (STS-B dev sentences)", "max_length": 256,
         "texts": spread(sentences, n_short)},
        {"name": "medium", "label": "medium (~128 tokens)", "max_length": 256,
         "texts": joined_texts(sentences, tokenizer, 128, n_medium)},
        {"name": "long", "label": "long (~512 tokens)", "max_length": 512,
         "texts": joined_texts(sentences, tokenizer, 512, n_long, start=len(sentences) // 2)},
    ]
    # Long texts run at 512 tokens (the model's position limit) where embedrt accepts a maximum
    # length above the model's configured one; else every peer cuts them at embedrt's limit.
    probe_out, rc, _ = run_child([str(tool), str(model_dir), "/dev/null", str(args.threads),
                                  str(args.batch_size), "0", "--max-length", "512", "--info"],
                                 env, work / "probe.log", 120)
    if rc != 0:
        refusal = tail(work / "probe.log", 1).removeprefix("error: ")
        out, rc, _ = run_child([str(tool), str(model_dir), "/dev/null", str(args.threads),
                                str(args.batch_size), "0", "--info"], env, work / "info.log", 120)
        limit = last_json(out)["max_length"] if rc == 0 else 256
        workloads[2]["max_length"] = limit
        workloads[2]["note"] = (f"embedrt does not accept a maximum length of 512 for this model "
                                f"({refusal or 'refused'}), so every peer cuts the long texts at "
                                f"{limit} tokens")
        log(workloads[2]["note"])
    if args.workloads:
        workloads = [w for w in workloads if w["name"] in args.workloads.split(",")]
    for w in workloads:
        lengths = [min(len(e.ids), w["max_length"]) for e in tokenizer.encode_batch(w["texts"])]
        w["tokens"] = sum(lengths)
        w["mean_tokens"] = w["tokens"] / len(lengths)
        w["flops"] = model_flops(lengths, shape)
        w["jsonl"] = work / f"{w['name']}.jsonl"
        w["jsonl"].write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n"
                                      for t in w["texts"]), encoding="utf-8")
    single_latency = args.single_latency if args.single_latency is not None else (
        50 if quick else 300)
    warmup = 64

    # GEMM peak of this machine.
    log("measuring GEMM peak (oneDNN matmul)")
    out, rc, _ = run_child([str(gemm_tool), "--threads", str(args.threads)]
                           + (["--quick"] if quick else []), env, work / "gemm.log", 300)
    gemm = json.loads(out) if rc == 0 else {"error": tail(work / "gemm.log")}
    peaks = gemm.get("peak_gflops", {})

    # Exported peer models.
    modes = [m for m in MODES if not args.modes or m[0] in args.modes.split(",")]
    if not any(m[0] == REFERENCE for m in modes):
        modes.insert(0, next(m for m in MODES if m[0] == REFERENCE))
    artifacts = {}
    if any(m[1] in ("onnxruntime", "openvino") for m in modes):
        log("exporting the ONNX and OpenVINO models (cached)")
        spec = work / "prepare.json"
        # OpenVINO int8 calibration: 270 STS-B-derived texts of mixed length.
        calibration = (sentences[:200] + joined_texts(sentences, tokenizer, 128, 50, start=1000)
                       + joined_texts(sentences, tokenizer, 400, 20, start=2000))
        spec.write_text(json.dumps({"dir": str(build / "peers-models" / model_dir.name),
                                    "model": str(model_dir), "threads": args.threads,
                                    "calibration": calibration}))
        out, rc, _ = run_child([sys.executable, __file__, "--prepare", str(spec)], env,
                               work / "prepare.log", 1800)
        artifacts = last_json(out) if rc == 0 else {"error": tail(work / "prepare.log")}
        for k, v in artifacts.items():
            if k.endswith("error"):
                log(f"  {k}: {v}")

    # Runs.
    def gemm_peak(label):
        out, rc, _ = run_child([str(gemm_tool), "--threads", str(args.threads)]
                               + (["--quick"] if quick else []), env, work / "gemm.log", 300)
        return json.loads(out) if rc == 0 else {"error": tail(work / "gemm.log")}
    results = {}
    effective_seen = {}
    runnable = []
    for name, engine, precision in sorted(modes, key=lambda m: m[0] != REFERENCE):
        entry = {"engine": engine, "precision_requested": precision, "workloads": {}}
        results[name] = entry
        skip = key = None
        if engine == "embedrt":
            out, rc, _ = run_child([str(tool), str(model_dir), str(workloads[0]["jsonl"]),
                                    str(args.threads), str(args.batch_size), "0", "--precision",
                                    precision, "--info"], env, work / "info.log", 120)
            if rc != 0:
                skip = "could not load: " + tail(work / "info.log")
            else:
                info = last_json(out)
                entry["precision_effective"] = info["precision_effective"]
                entry["compute_dtype"] = info["compute_dtype"]
                entry["warnings"] = info["warnings"]
                key = (info["precision_effective"], info["compute_dtype"])
                if key in effective_seen and precision != info["precision_effective"]:
                    skip = (f"falls back to {info['precision_effective']} on this CPU "
                            f"({'; '.join(info['warnings'])}): same as {effective_seen[key]}")
                    entry["same_as"] = effective_seen[key]
                effective_seen.setdefault(key, name)
        elif engine in ("onnxruntime", "openvino"):
            prefix = "onnx" if engine == "onnxruntime" else "openvino"
            key = f"{prefix}_{'fp32' if precision == 'fp32' else 'int8'}"
            if key not in artifacts:
                skip = "no model: " + str(artifacts.get(key + "_error")
                                          or artifacts.get(prefix + "_export_error")
                                          or artifacts.get("error"))
        if skip:
            entry["skipped"] = skip
            log(f"{name}: skipped ({skip})")
        else:
            runnable.append((name, engine, precision, key))

    def child_command(engine, precision, key, w, emb_path, singles):
        """The command that runs one mode on one workload for one round."""
        if engine == "embedrt":
            return [str(tool), str(model_dir), str(w["jsonl"]), str(args.threads),
                    str(args.batch_size), str(repeats), "--precision", precision,
                    "--max-length", str(w["max_length"]), "--no-batch-latency",
                    "--warmup", str(warmup), "--single-latency", str(singles),
                    "--embeddings", str(emb_path) + ".f32"]
        spec = {"engine": engine, "precision": precision, "model": str(model_dir),
                "threads": args.threads, "batch_size": args.batch_size,
                "max_length": w["max_length"], "texts": w["texts"], "repeats": repeats,
                "warmup": warmup, "single_latency": singles,
                "embeddings": str(emb_path) + ".npy"}
        if engine == "onnxruntime":
            spec["artifact"] = artifacts[key]
        if engine == "openvino":
            spec["artifact_dir"] = artifacts["openvino_dir"]
            spec["file_name"] = artifacts[key]
        spec_path = work / f"{emb_path.name}.json"
        spec_path.write_text(json.dumps(spec))
        return [sys.executable, __file__, "--child", str(spec_path)]

    # Rounds: every mode runs every workload once per round, so a machine that drifts over the
    # run (another tenant, clock changes) moves all peers alike instead of whichever ran then.
    singles_per_round = math.ceil(single_latency / rounds)
    for round_index in range(rounds):
        for name, engine, precision, key in runnable:
            entry = results[name]
            for w in workloads:
                prior = entry["workloads"].get(w["name"])
                if prior is not None and "error" in prior:
                    continue
                log(f"round {round_index + 1}/{rounds}, {name}: {w['name']} "
                    f"({len(w['texts'])} texts, {w['tokens']} tokens)")
                emb_path = work / f"{re.sub(r'[^a-z0-9]+', '_', name.lower())}_{w['name']}"
                singles = singles_per_round if w["name"] == "short" else 0
                stderr_log = work / f"{emb_path.name}.log"
                cmd = child_command(engine, precision, key, w, emb_path, singles)
                out, rc, rss = run_child(cmd, env, stderr_log, 1200)
                if rc != 0:
                    log(f"  failed: {tail(stderr_log)}")
                    if prior is None:
                        entry["workloads"][w["name"]] = {"error": tail(stderr_log)}
                    else:  # keep the rounds that ran, and say one did not
                        prior.setdefault("failed_rounds", []).append(tail(stderr_log))
                    continue
                r = last_json(out)
                r["peak_rss_mb"] = rss
                r["embeddings_file"] = str(emb_path) + (".f32" if engine == "embedrt" else ".npy")
                entry["workloads"][w["name"]] = r = pool_rounds(prior, r)
                if engine != "embedrt":
                    entry.setdefault("precision_effective", r.get("precision_effective", precision))
                    for k, val in r.items():
                        if k.startswith("ov_"):
                            entry[k] = val
                log(f"  {r['rounds'][-1]:.1f} texts/s, peak RSS {rss:.0f} MB")
    for entry in results.values():
        for r in entry["workloads"].values():
            r.pop("single_ms", None)

    # The GEMM peak again after the peers ran: on a shared machine the less disturbed of the two
    # measurements (the higher rate per dtype and shape) is the peak.
    log("measuring GEMM peak again (oneDNN matmul)")
    gemm_after = gemm_peak("after")
    if "results" in gemm and "results" in gemm_after:
        for row, later in zip(gemm["results"], gemm_after["results"]):
            row["gflops_before"] = row.get("gflops_median")
            row["gflops_after"] = later.get("gflops_median")
            if later.get("gflops_median", 0) > row.get("gflops_median", 0):
                row["gflops_median"] = later["gflops_median"]
        for dtype, value in gemm_after.get("peak_gflops", {}).items():
            if value and value > (gemm["peak_gflops"].get(dtype) or 0):
                gemm["peak_gflops"][dtype] = value
                gemm["peak_shape"][dtype] = gemm_after["peak_shape"][dtype]
        peaks = gemm["peak_gflops"]

    # Accuracy against sentence-transformers fp32, and derived figures.
    import numpy as np
    ref = results.get(REFERENCE, {}).get("workloads", {})
    dim = None
    for name, entry in results.items():
        for w in workloads:
            r = entry["workloads"].get(w["name"])
            if not r or "error" in r:
                continue
            path = Path(r.pop("embeddings_file"))
            emb = np.fromfile(path, dtype=np.float32) if path.suffix == ".f32" else np.load(path)
            if path.suffix == ".f32":
                emb = emb.reshape(len(w["texts"]), -1)
            dim = emb.shape[1]
            r["_emb"] = emb
    for name, entry in results.items():
        all_cos = []
        for w in workloads:
            r = entry["workloads"].get(w["name"])
            if not r or "error" in r:
                continue
            seconds_per_pass = len(w["texts"]) / r["texts_per_second_median"]
            r["tokens_per_second_median"] = w["tokens"] / seconds_per_pass
            r["model_gflops"] = w["flops"] / seconds_per_pass / 1e9
            dtype = entry.get("precision_effective", "fp32")
            peak = peaks.get(dtype)
            r["gemm_peak_dtype"] = dtype
            r["gemm_peak_fraction"] = r["model_gflops"] / peak if peak else None
            rref = ref.get(w["name"])
            if rref and "_emb" in rref:
                r["cosine_vs_reference"] = cosine_stats(r["_emb"], rref["_emb"])
                a = r["_emb"] / np.linalg.norm(r["_emb"], axis=1, keepdims=True)
                b = rref["_emb"] / np.linalg.norm(rref["_emb"], axis=1, keepdims=True)
                all_cos.append((a * b).sum(1))
        if all_cos:
            cos = np.concatenate(all_cos)
            entry["cosine_vs_reference"] = {"mean": float(cos.mean()), "min": float(cos.min()),
                                            "n": int(len(cos))}
            entry["passes_int8_gate"] = bool(cos.mean() >= GATE_MEAN and cos.min() >= GATE_MIN)
    for entry in results.values():
        for r in entry["workloads"].values():
            r.pop("_emb", None)

    # Ratios: vs torch fp32, and vs the fastest ONNX Runtime / OpenVINO mode (any precision)
    # that passes the int8 accuracy gate.
    for w in workloads:
        def rate(n):
            r = results.get(n, {}).get("workloads", {}).get(w["name"], {})
            return r.get("texts_per_second_median")
        torch_rate = rate(REFERENCE)
        fast = [(rate(n), n) for n, e in results.items()
                if e["engine"] in ("onnxruntime", "openvino") and rate(n)
                and e.get("passes_int8_gate")]
        best_rate, best_name = max(fast) if fast else (None, None)
        w["fastest_ort_openvino"] = best_name
        for name, entry in results.items():
            r = entry["workloads"].get(w["name"])
            if not r or "error" in r:
                continue
            r["ratio_vs_torch"] = r["texts_per_second_median"] / torch_rate if torch_rate else None
            torch_rounds = results.get(REFERENCE, {}).get("workloads", {}).get(
                w["name"], {}).get("rounds", [])
            if len(torch_rounds) == len(r["rounds"]) > 1:
                r["ratio_vs_torch_rounds"] = [a / b for a, b in zip(r["rounds"], torch_rounds)]
            r["ratio_vs_fastest_ort_openvino"] = (r["texts_per_second_median"] / best_rate
                                                  if best_rate else None)

    versions = peer_versions()
    versions["embedrt"] = git_revision()
    versions["oneDNN"] = gemm.get("onednn_version")
    import shlex
    command = shlex.join([".venv-peers/bin/python", "bench/bench_peers.py"] + [
        os.path.relpath(a, ROOT) if a.startswith(str(ROOT) + "/") else a for a in sys.argv[1:]])
    report = {
        "cpu": cpu_name(), "cpu_flags": cpu_flags(), "cores": os.cpu_count(),
        "threads": args.threads, "batch_size": args.batch_size, "repeats": repeats,
        "rounds": rounds, "quick": quick, "date": time.strftime("%Y-%m-%d"), "command": command.strip(),
        "model": model_dir.name, "model_shape": shape,
        "configured_max_length": configured_max_length(model_dir),
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "duration_seconds": time.time() - started,
        "versions": versions, "gemm_peak": gemm,
        "artifacts": {k: (os.path.relpath(v, build) if isinstance(v, str) and v.startswith("/")
                          else v) for k, v in artifacts.items()},
        "workloads": [{k: w[k] for k in ("name", "label", "max_length", "tokens", "mean_tokens",
                                         "flops", "fastest_ort_openvino", "note") if k in w}
                      | {"texts": len(w["texts"])} for w in workloads],
        "single_latency_texts": single_latency,
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    section = markdown(report)
    print(section)
    if args.doc:
        write_section(Path(args.doc), section, args.section or section_name(report["model"]))
    log(f"done: {args.out}" + (f", {args.doc}" if args.doc else ""))


# --------------------------------------------------------------------------------------------
# Markdown

def section_name(model: str) -> str:
    return "peers" if model == DEFAULT_MODEL.name else f"peers-{model}"


def markers(section: str):
    return f"<!-- {section}:begin -->", f"<!-- {section}:end -->"


def fmt(value, spec=",.1f", none="—"):
    return none if value is None else format(value, spec)


def markdown(rep) -> str:
    v = rep["versions"]
    g = rep["gemm_peak"]
    h, f, layers = (rep["model_shape"][k] for k in ("hidden", "ffn", "layers"))
    begin, end = markers(section_name(rep["model"]))
    title = "## Peers: embedrt vs sentence-transformers, ONNX Runtime and OpenVINO"
    if rep["model"] != DEFAULT_MODEL.name:
        title += f" ({rep['model']})"
    lines = [begin, title, ""]
    lines += ["```bash", "bench/setup_peers.sh",
              "cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release",
              "cmake --build build-bench --target embedrt_encode_throughput embedrt_gemm_peak",
              rep["command"], "```", ""]
    la, lb = rep["load_average_before"], rep["load_average_after"]
    lines.append(
        f"Machine: {rep['cpu']} ({rep['cpu_flags']}), {rep['cores']} cores; "
        f"{rep['threads']} threads for every peer; {rep['date']}"
        f"{', quick smoke run' if rep['quick'] else ''}. Figures are medians of "
        f"{rep['repeats'] * rep.get('rounds', 1)} passes"
        + (f" from {rep['rounds']} rounds, each running every mode and workload in turn,"
           if rep.get("rounds", 1) > 1 else "")
        + f" on a shared machine (load average "
        f"{la[0]:.1f} before, {lb[0]:.1f} after the run, {rep['duration_seconds'] / 60:.0f} min): "
        "compare ratios within this run, not absolute figures across runs.")
    lines.append("")
    lines.append(
        f"Versions: embedrt {v['embedrt']} (oneDNN {v['oneDNN']}); torch {v['torch']}, "
        f"sentence-transformers {v['sentence-transformers']}, transformers {v['transformers']}, "
        f"tokenizers {v['tokenizers']}; onnxruntime {v['onnxruntime']} (onnx {v['onnx']}); "
        f"openvino {v['openvino']}, optimum-intel {v['optimum-intel']}, nncf {v['nncf']}.")
    lines.append("")
    lines += [
        f"Model {rep['model']}, batch size {rep['batch_size']} for every peer, each peer and "
        "workload in its own process. How each peer runs:",
        "",
        "- **embedrt**: `bench/tools/encode_throughput.cpp` through the public API, `--threads "
        f"{rep['threads']}`, embedding cache off, default (balanced) mode otherwise; the precision "
        "shown is what `Embedder::info()` reports it computes in, which falls back to fp32 where "
        "the CPU cannot run the requested one.",
        "- **sentence-transformers torch fp32**: `SentenceTransformer(...).encode`, "
        "`torch.set_num_threads`, `inference_mode`. It is the accuracy reference.",
        "- **ONNX Runtime**: the transformer exported with `torch.onnx.export`, ONNX Runtime's "
        "BERT graph fusions applied (`onnxruntime.transformers.optimizer`), run by "
        "`InferenceSession` (`intra_op_num_threads`, sequential) with sentence-transformers' "
        "tokenization, batching order, mean pooling and normalization; int8 = "
        "`quantize_dynamic` of that graph (int8 weights per output channel, u8 activations "
        "quantized at run time).",
        "- **OpenVINO**: sentence-transformers `backend=\"openvino\"` (optimum-intel export), "
        "`INFERENCE_NUM_THREADS`, one stream, latency hint; int8 = NNCF post-training static "
        "quantization (transformer preset) of that IR, calibrated on 270 texts made from STS-B "
        "dev sentences (200 sentences, 50 of ~128 tokens, 20 of ~400 tokens).",
        "",
        "Workloads: " + "; ".join(
            f"{w['label']}: {w['texts']:,} texts, {w['tokens']:,} tokens "
            f"(mean {w['mean_tokens']:.0f}), truncated at {w['max_length']}"
            for w in rep["workloads"]) + ". Medium and long texts join consecutive STS-B "
        "sentences" + "".join(
            "; the long workload raises every peer's maximum length to 512 (the model's position "
            f"limit; its configured limit is {rep.get('configured_max_length') or 256})"
            if w["max_length"] == 512 else "; " + w.get("note", "")
            for w in rep["workloads"] if w["name"] == "long") + ". Batch-1 latency: the first "
        f"{rep['single_latency_texts']} short sentences, one `encode` call each (tokenization "
        "to normalized vector). Peak RSS: the child process's `ru_maxrss`, per workload.",
        "",
        "Model FLOPs (padding excluded): per layer and text of n tokens, "
        "2·n·(4h² + 2hf) in the linear layers plus 4·n²·h in attention; "
        f"{rep['model']} (h = {h}, f = {f}, {layers} layers) costs "
        f"{layers * 2 * (4 * h * h + 2 * h * f) / 1e6:.1f} MFLOP per token in its linear layers. "
        "% of GEMM peak = model FLOP/s over the GEMM rate measured for the mode's effective "
        "precision by `bench/tools/gemm_peak.cpp` (below). Ratios: texts/s over "
        "sentence-transformers torch fp32 (in brackets: the lowest and highest of the rounds' "
        "ratios, each round's embedrt figure over the same round's torch figure), and over the "
        "fastest ONNX Runtime or OpenVINO mode "
        f"that passes the int8 accuracy gate (mean cosine ≥ {GATE_MEAN}, min ≥ {GATE_MIN} "
        "against sentence-transformers fp32).",
        "",
    ]
    # GEMM peak table.
    lines += [f"### GEMM peak on this machine (oneDNN {g.get('onednn_version')} matmul, "
              f"ISA {g.get('onednn_cpu_isa')}, {rep['threads']} threads)", "",
              "Measured before and after the peers ran; the higher of the two is shown and used. "
              "A fraction above 100% means a peer's own GEMM (ONNX Runtime's MLAS, OpenVINO's "
              "kernels) or embedrt's batching beats oneDNN's rate at these shapes, or that the "
              "shared machine was busier while the peak was measured.", ""]
    lines += ["| dtype | shape (M×K×N) | implementation | GFLOP/s (GOP/s int8) |", "|---|---|---|---|"]
    for row in g.get("results", []):
        shape = f"{row['shape']}: {row['m']}×{row['k']}×{row['n']}"
        value = fmt(row.get("gflops_median")) if "gflops_median" in row else \
            "skipped: " + row.get("skipped", "")
        lines.append(f"| {row['dtype']} | {shape} | {row.get('impl', '—')} | {value} |")
    peaks = g.get("peak_gflops", {})
    lines += ["", "Peak used for the fractions: " + ", ".join(
        f"{k} {fmt(v)}" + (f" ({g['peak_shape'][k]})" if v else " (not available)")
        for k, v in peaks.items()) + ".", ""]
    # Main table.
    lines += ["### Throughput, accuracy and memory", ""]
    lines += ["| workload | mode | precision | texts/s | tokens/s | model GFLOP/s | % of GEMM peak "
              "| × torch | × fastest ORT/OpenVINO | peak RSS MB | cosine vs s-t fp32 mean / min |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for w in rep["workloads"]:
        for name, e in rep["results"].items():
            r = e["workloads"].get(w["name"])
            if r is None or "error" in r:
                continue
            cos = r.get("cosine_vs_reference")
            frac = r.get("gemm_peak_fraction")
            lines.append(
                f"| {w['name']} | {name} | {e.get('precision_effective', '?')} | "
                f"{fmt(r['texts_per_second_median'])} | {fmt(r['tokens_per_second_median'], ',.0f')} | "
                f"{fmt(r['model_gflops'])} | {fmt(frac * 100 if frac else None, '.0f')}% | "
                f"{fmt(r.get('ratio_vs_torch'), '.2f')}×"
                + (" ({:.2f}–{:.2f})".format(min(r["ratio_vs_torch_rounds"]),
                                            max(r["ratio_vs_torch_rounds"]))
                   if r.get("ratio_vs_torch_rounds") and name != REFERENCE else "")
                + f" | {fmt(r.get('ratio_vs_fastest_ort_openvino'), '.2f')}× | "
                f"{fmt(r['peak_rss_mb'], '.0f')} | "
                + (f"{cos['mean']:.5f} / {cos['min']:.5f} |" if cos else "— |"))
    lines += ["", "Fastest ONNX Runtime / OpenVINO mode passing the gate: " + "; ".join(
        f"{w['name']}: {w['fastest_ort_openvino'] or 'none'}" for w in rep["workloads"]) + ".", ""]
    # Latency and summary per mode.
    lines += ["### Batch-1 latency (short query) and accuracy per mode", ""]
    lines += ["| mode | requested | effective precision | p50 ms | p99 ms | peak RSS MB "
              "(short / medium / long) | cosine mean / min (all workloads) | int8 gate |",
              "|---|---|---|---|---|---|---|---|"]
    notes = []
    for name, e in rep["results"].items():
        if "skipped" in e:
            notes.append(f"- {name}: not run — {e['skipped']}.")
            continue
        s = e["workloads"].get("short", {})
        rss = " / ".join(fmt(e["workloads"].get(w["name"], {}).get("peak_rss_mb"), ".0f")
                         for w in rep["workloads"])
        cos = e.get("cosine_vs_reference")
        lines.append(
            f"| {name} | {e['precision_requested']} | {e.get('precision_effective', '?')}"
            + (f" (OpenVINO inference precision {e['ov_inference_precision_hint']})"
               if "ov_inference_precision_hint" in e else "")
            + f" | {fmt(s.get('single_ms_p50'), '.2f')} | {fmt(s.get('single_ms_p99'), '.2f')} | "
            f"{rss} | " + (f"{cos['mean']:.5f} / {cos['min']:.5f}" if cos else "—")
            + f" | {'passes' if e.get('passes_int8_gate') else 'fails' if cos else '—'} |")
        for w, r in e["workloads"].items():
            if "error" in r:
                notes.append(f"- {name}, {w}: failed — {r['error']}")
        for warning in e.get("warnings", []):
            notes.append(f"- {name}: {warning}.")
    for k, val in rep["artifacts"].items():
        if k.endswith("error"):
            notes.append(f"- {k.replace('_', ' ')}: {val}")
    if notes:
        lines += ["", "Notes:", ""] + notes
    lines += ["", end]
    return "\n".join(lines)


def write_section(doc: Path, section: str, name: str) -> None:
    begin, end = markers(name)
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail_text = rest.split(end, 1)
        text = head + section + tail_text
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    doc.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
