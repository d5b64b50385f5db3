"""`embedrt fetch` against a local stand-in of the Hub (hub_server.py), with huggingface_hub's own
snapshot_download from the same server as the reference for the cache it writes; then `encode
--model org/name` from that cache; resume, corruption, 401/404 and revisions."""
import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from conftest import CLI, TEST_DATA, assert_one_line_error, require
from hub_server import Commit, HubServer

REPO = "embedrt-test/tiny-xlm-roberta"
FOLDER = "models--embedrt-test--tiny-xlm-roberta"
# Files embedrt never reads, which the default selection must leave on the server.
JUNK = {
    "onnx/model.onnx": b"\x08\x07" * 5000,
    "openvino/openvino_model.xml": b"<net/>",
    "pytorch_model.bin": b"torch" * 3000,
    "rust_model.ot": b"rust" * 1000,
    "flax_model.msgpack": b"flax" * 1000,
    "1_Pooling/model.onnx": b"pool" * 100,
}


def model_folder(group, name):
    return require(TEST_DATA / group / name / "config.json").parent


def default_selection(files):
    """The default selection spelled out independently of the C++ rules, for this repository."""
    top = {"config.json", "tokenizer.json", "tokenizer_config.json", "modules.json",
           "sentence_bert_config.json", "config_sentence_transformers.json", "model.safetensors",
           "special_tokens_map.json", "sentencepiece.bpe.model", "vocab.txt"}
    return sorted(f for f in files
                  if f in top or f in ("1_Pooling/config.json", "2_Normalize/config.json"))


@pytest.fixture()
def hub():
    main = Commit(model_folder("family-models", "tiny-xlm-roberta"), JUNK)
    other = Commit(model_folder("family-models", "tiny-distilbert"))
    with HubServer() as server:
        server.state.add_repo(REPO, {"main": main, "distil": other})
        server.main, server.other = main, other
        yield server


def fetch(hub, model, cache, *args, token=None, check=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env["HF_ENDPOINT"] = hub.endpoint
    if token is not None:
        env["HF_TOKEN"] = token
    result = subprocess.run([CLI, "fetch", model, "--cache-dir", str(cache), *args], env=env,
                            capture_output=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"embedrt fetch failed: {result.stderr.decode(errors='replace')}")
    return result


def reference(hub, cache, revision="main", allow_patterns=None):
    from huggingface_hub import snapshot_download
    return Path(snapshot_download(REPO, revision=revision, cache_dir=str(cache),
                                  endpoint=hub.endpoint, allow_patterns=allow_patterns,
                                  token=False))


def cache_tree(repo_dir: Path):
    """blobs (name -> sha256), refs (name -> text), snapshot entries (path -> (link, sha256))."""
    def digest(p):
        return hashlib.sha256(p.read_bytes()).hexdigest()
    blobs = {p.name: digest(p) for p in (repo_dir / "blobs").iterdir()}
    refs = {p.relative_to(repo_dir / "refs").as_posix(): p.read_text()
            for p in (repo_dir / "refs").rglob("*") if p.is_file()} \
        if (repo_dir / "refs").exists() else {}
    snapshots = {}
    for p in (repo_dir / "snapshots").rglob("*"):
        if p.is_symlink():
            snapshots[p.relative_to(repo_dir).as_posix()] = (os.readlink(p), digest(p))
        elif p.is_file():
            snapshots[p.relative_to(repo_dir).as_posix()] = ("not a link", digest(p))
    return blobs, refs, snapshots


def assert_same_cache(ours: Path, theirs: Path):
    a, b = cache_tree(ours), cache_tree(theirs)
    assert a[0] == b[0], "blobs differ"
    assert a[1] == b[1], "refs differ"
    assert a[2] == b[2], "snapshots differ"
    for name, sha in a[0].items():  # blobs are named by their content
        if len(name) == 64:
            assert name == sha, name


def test_default_selection_matches_huggingface_hub(hub, tmp_path):
    result = fetch(hub, REPO, tmp_path / "ours")
    snapshot = Path(result.stdout.decode().strip())
    assert snapshot == tmp_path / "ours" / FOLDER / "snapshots" / hub.main.sha
    expected = default_selection(hub.main.files)
    theirs = reference(hub, tmp_path / "theirs", allow_patterns=expected)
    got = sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_symlink())
    assert got == expected
    assert_same_cache(tmp_path / "ours" / FOLDER, tmp_path / "theirs" / FOLDER)
    assert theirs == tmp_path / "theirs" / FOLDER / "snapshots" / hub.main.sha
    # No .incomplete or temporary file left anywhere.
    leftovers = [p for p in (tmp_path / "ours").rglob("*") if ".incomplete" in p.name or
                 ".tmp" in p.name]
    assert not leftovers
    # Again: nothing to download, nothing changes.
    again = fetch(hub, REPO, tmp_path / "ours")
    assert b"0 downloaded" in again.stderr
    assert_same_cache(tmp_path / "ours" / FOLDER, tmp_path / "theirs" / FOLDER)
    # huggingface_hub takes our cache as complete: offline, and online without a file request.
    from huggingface_hub import hf_hub_download
    assert Path(hf_hub_download(REPO, "1_Pooling/config.json", cache_dir=str(tmp_path / "ours"),
                                local_files_only=True)) == snapshot / "1_Pooling" / "config.json"
    before = len(hub.state.log)
    assert Path(reference(hub, tmp_path / "ours", allow_patterns=expected)) == snapshot
    assert all("/api/" in path for _, _, path, _ in hub.state.log[before:])


def test_include_everything_matches_huggingface_hub(hub, tmp_path):
    fetch(hub, REPO, tmp_path / "ours", "--include", "*")
    reference(hub, tmp_path / "theirs")
    assert_same_cache(tmp_path / "ours" / FOLDER, tmp_path / "theirs" / FOLDER)
    _, _, snapshots = cache_tree(tmp_path / "ours" / FOLDER)
    assert f"snapshots/{hub.main.sha}/onnx/model.onnx" in snapshots


def test_include_globs(hub, tmp_path):
    fetch(hub, REPO, tmp_path / "ours", "--include", "*.json", "--include", "onnx/")
    reference(hub, tmp_path / "theirs", allow_patterns=["*.json", "onnx/"])
    assert_same_cache(tmp_path / "ours" / FOLDER, tmp_path / "theirs" / FOLDER)
    result = fetch(hub, REPO, tmp_path / "none", "--include", "*.nothing", check=False)
    assert_one_line_error(result, "no file matches --include *.nothing")


def encode(model, env):
    texts = "Hello world.\nA man is playing a guitar.\nZwei Hunde spielen im Schnee.\n"
    result = subprocess.run([CLI, "encode", "--model", str(model), "--format", "npy", "--output",
                             "-"], input=texts.encode(), env=env, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def test_encode_from_fetched_cache_equals_folder(hub, tmp_path):
    fetch(hub, REPO, tmp_path / "cache")
    fetch(hub, REPO + "@distil", tmp_path / "cache")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env["HF_HUB_CACHE"] = str(tmp_path / "cache")
    from_cache = encode(REPO, env)
    assert from_cache == encode(model_folder("family-models", "tiny-xlm-roberta"), env)
    assert encode(REPO + "@distil", env) == encode(
        model_folder("family-models", "tiny-distilbert"), env)
    assert encode(f"{REPO}@{hub.main.sha}", env) == from_cache


def test_revision_branch_and_commit(hub, tmp_path):
    fetch(hub, REPO + "@distil", tmp_path / "ours")
    reference(hub, tmp_path / "theirs", revision="distil",
              allow_patterns=default_selection(hub.other.files))
    assert (tmp_path / "ours" / FOLDER / "refs" / "distil").read_text() == hub.other.sha
    assert_same_cache(tmp_path / "ours" / FOLDER, tmp_path / "theirs" / FOLDER)
    # A commit hash writes no ref, as huggingface_hub.
    fetch(hub, f"{REPO}@{hub.main.sha}", tmp_path / "ours2")
    reference(hub, tmp_path / "theirs2", revision=hub.main.sha,
              allow_patterns=default_selection(hub.main.files))
    assert not (tmp_path / "ours2" / FOLDER / "refs").exists()
    assert_same_cache(tmp_path / "ours2" / FOLDER, tmp_path / "theirs2" / FOLDER)


def test_renamed_repository_is_followed(hub, tmp_path):
    hub.state.renamed["embedrt-test/old-name"] = REPO
    result = fetch(hub, "embedrt-test/old-name", tmp_path / "ours")
    snapshot = tmp_path / "ours" / "models--embedrt-test--old-name" / "snapshots" / hub.main.sha
    assert Path(result.stdout.decode().strip()) == snapshot
    assert (snapshot / "model.safetensors").read_bytes() == hub.main.files["model.safetensors"]
    assert any(code == "GET" and "/api/models/embedrt-test/old-name/" in path
               for _, code, path, _ in hub.state.log)


def range_requests(hub, name_part):
    return [h.get("Range") for _, method, path, h in hub.state.log
            if method == "GET" and name_part in path and "Range" in h]


def test_resume_after_dropped_connection(hub, tmp_path):
    hub.state.drop_once.update({"model.safetensors", "tokenizer.json"})
    result = fetch(hub, REPO, tmp_path / "ours")
    assert b"warning:" in result.stderr and b"resuming at byte" in result.stderr
    safetensors = hub.main.files["model.safetensors"]
    assert range_requests(hub, "/blobs/") == [f"bytes={len(safetensors) // 2}-"]
    tokenizer = hub.main.files["tokenizer.json"]
    assert range_requests(hub, "tokenizer.json") == [f"bytes={len(tokenizer) // 2}-"]
    reference(hub, tmp_path / "theirs", allow_patterns=default_selection(hub.main.files))
    assert_same_cache(tmp_path / "ours" / FOLDER, tmp_path / "theirs" / FOLDER)


def test_cdn_redirect_followed_and_signature_not_shown(hub, tmp_path):
    hub.state.cdn_hop = True
    hub.state.drop_once.add("model.safetensors")
    result = fetch(hub, REPO, tmp_path / "ours")
    assert b"/signed/" in result.stderr and b"s3cr3t" not in result.stderr
    half = len(hub.main.files["model.safetensors"]) // 2
    assert range_requests(hub, "/signed/") == [f"bytes={half}-"]
    reference(hub, tmp_path / "theirs", allow_patterns=default_selection(hub.main.files))
    assert_same_cache(tmp_path / "ours" / FOLDER, tmp_path / "theirs" / FOLDER)


def test_resume_across_runs(hub, tmp_path):
    hub.state.drop_once.add("model.safetensors")
    result = fetch(hub, REPO, tmp_path / "ours", "--retries", "0", check=False)
    assert_one_line_error(result, "/blobs/", "next fetch resumes")
    repo_dir = tmp_path / "ours" / FOLDER
    sha = hashlib.sha256(hub.main.files["model.safetensors"]).hexdigest()
    partial = repo_dir / "blobs" / f"{sha}.incomplete"
    half = len(hub.main.files["model.safetensors"]) // 2
    assert partial.stat().st_size == half
    # Nothing of the commit is visible yet: no snapshot, no ref.
    assert not (repo_dir / "snapshots").exists() and not (repo_dir / "refs").exists()
    fetch(hub, REPO, tmp_path / "ours")
    assert range_requests(hub, "/blobs/") == [f"bytes={half}-"]
    reference(hub, tmp_path / "theirs", allow_patterns=default_selection(hub.main.files))
    assert_same_cache(repo_dir, tmp_path / "theirs" / FOLDER)


def test_stalled_transfer_times_out_and_resumes(hub, tmp_path):
    hub.state.stall_once.add("model.safetensors")
    result = fetch(hub, REPO, tmp_path / "ours", "--timeout", "1")
    assert b"resuming at byte" in result.stderr
    half = len(hub.main.files["model.safetensors"]) // 2
    assert range_requests(hub, "/blobs/") == [f"bytes={half}-"]
    reference(hub, tmp_path / "theirs", allow_patterns=default_selection(hub.main.files))
    assert_same_cache(tmp_path / "ours" / FOLDER, tmp_path / "theirs" / FOLDER)


def test_server_error_is_retried(hub, tmp_path):
    hub.state.fail_once["config.json"] = 503
    result = fetch(hub, REPO, tmp_path / "ours")
    assert b"HTTP 503; retrying" in result.stderr
    hub.state.fail_once["config.json"] = 503
    result = fetch(hub, REPO, tmp_path / "again", "--retries", "0", check=False)
    assert_one_line_error(result, f"/{REPO}/resolve/{hub.main.sha}/config.json", "HTTP 503",
                          "try again later")


def test_concurrent_download_refused(hub, tmp_path):
    import fcntl
    repo_dir = tmp_path / "ours" / FOLDER
    sha = hashlib.sha256(hub.main.files["model.safetensors"]).hexdigest()
    (repo_dir / "blobs").mkdir(parents=True)
    with open(repo_dir / "blobs" / f"{sha}.incomplete", "wb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = fetch(hub, REPO, tmp_path / "ours", check=False)
    assert_one_line_error(result, f"{sha}.incomplete", "another process is downloading")
    fetch(hub, REPO, tmp_path / "ours")


@pytest.mark.parametrize("name,digest", [("model.safetensors", "sha256"),
                                         ("tokenizer.json", "git blob id")])
def test_corrupted_file_rejected(hub, tmp_path, name, digest):
    hub.state.corrupt.add(name)
    result = fetch(hub, REPO, tmp_path / "ours", check=False)
    assert_one_line_error(result, name, digest, "deleted the download")
    repo_dir = tmp_path / "ours" / FOLDER
    data = hub.main.files[name]
    etag = hashlib.sha256(data).hexdigest() if digest == "sha256" else \
        hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    assert not (repo_dir / "blobs" / etag).exists()
    assert not (repo_dir / "blobs" / f"{etag}.incomplete").exists()
    assert not (repo_dir / "snapshots").exists()
    # The server heals: the next run completes.
    hub.state.corrupt.clear()
    fetch(hub, REPO, tmp_path / "ours")
    assert (repo_dir / "snapshots" / hub.main.sha / name).read_bytes() == data


def test_unauthorized(hub, tmp_path):
    hub.state.token = "hf_secret"
    result = fetch(hub, REPO, tmp_path / "ours", check=False)
    assert_one_line_error(result, f"{hub.endpoint}/api/models/{REPO}/revision/main", "HTTP 401",
                          "set HF_TOKEN")
    result = fetch(hub, REPO, tmp_path / "ours", token="hf_wrong", check=False)
    assert_one_line_error(result, "HTTP 401", "HF_TOKEN was not accepted")
    fetch(hub, REPO, tmp_path / "ours", token="hf_secret")
    hub_auth = {h.get("Authorization") for server, _, _, h in hub.state.log if server == "hub"}
    assert "Bearer hf_secret" in hub_auth
    # The token never went to the CDN (which would have answered 400).
    assert all("Authorization" not in h for server, _, _, h in hub.state.log if server == "cdn")


def test_not_found(hub, tmp_path):
    result = fetch(hub, "embedrt-test/no-such-model", tmp_path, check=False)
    assert_one_line_error(result, "/api/models/embedrt-test/no-such-model/revision/main",
                          "HTTP 404", "repository embedrt-test/no-such-model not found")
    result = fetch(hub, REPO + "@no-such-branch", tmp_path, check=False)
    assert_one_line_error(result, "HTTP 404", "revision no-such-branch not found")
    assert not (tmp_path / FOLDER).exists()


@pytest.mark.parametrize("model", ["../etc", "org/na--me", "a/b/c", "org/name@../x", "org/name@"])
def test_bad_model_id(hub, tmp_path, model):
    result = fetch(hub, model, tmp_path, check=False)
    assert_one_line_error(result, "is not a")
    assert not any(tmp_path.iterdir())


def test_hostile_file_list_rejected(tmp_path):
    evil = Commit(model_folder("family-models", "tiny-xlm-roberta"), {"../../escape.json": b"{}"})
    with HubServer() as server:
        server.state.add_repo(REPO, {"main": evil})
        result = fetch(server, REPO, tmp_path / "cache", "--include", "*", check=False)
    assert_one_line_error(result, "rfilename", "../../escape.json", "is not a relative file path")
    assert not (tmp_path / "escape.json").exists() and not (tmp_path / "cache").exists()
