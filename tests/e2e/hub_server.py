"""A local stand-in for the Hugging Face Hub's HTTP API, for the fetch tests (no network).

Serves model folders under the Hub's URL layout, with the headers the Hub sends:

- GET  /api/models/<repo>/revision/<rev>       {"id", "sha", "siblings": [{"rfilename"}]}
- GET  /api/models/<repo>/tree/<rev>?recursive  the file list huggingface_hub's snapshot_download
                                                reads (path, size, oid, lfs {oid, size})
- HEAD/GET /<repo>/resolve/<rev>/<path>         regular files: 200, ETag = git blob id,
                                                X-Repo-Commit; LFS files (*.safetensors, *.bin,
                                                *.onnx, ...): 302 to the CDN with X-Linked-Etag =
                                                sha256, X-Linked-Size
- GET  <cdn>/blobs/<sha256>                     the LFS bytes, on a second port (another origin,
                                                as the Hub's CDN), with Range support

Errors carry X-Error-Code / X-Error-Message as the Hub's do. Faults for the tests: drop the
connection once in the middle of a file, stall in the middle of a file, answer one GET with an
error status, redirect a renamed repository, serve corrupted bytes, require a token (401), and a log of every request (method,
path, headers).
"""
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".onnx", ".onnx_data", ".ot", ".h5", ".msgpack", ".model")


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Commit:
    """One commit of a repository: its files (path -> bytes), from a folder plus extras."""

    def __init__(self, folder: Path, extra_files=None):
        self.files = {}
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                self.files[path.relative_to(folder).as_posix()] = path.read_bytes()
        self.files.update(extra_files or {})
        digest = hashlib.sha1()
        for name, data in sorted(self.files.items()):
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        self.sha = digest.hexdigest()

    @staticmethod
    def is_lfs(path: str) -> bool:
        return path.endswith(LFS_SUFFIXES)


class HubState:
    def __init__(self):
        self.repos = {}           # repo id -> {"branches": {name: Commit}, "commits": {sha: Commit}}
        self.token = None         # when set, every Hub request needs "Authorization: Bearer <token>"
        self.drop_once = set()    # paths whose next GET stops halfway and closes the connection
        self.corrupt = set()      # paths served with one byte changed
        self.stall_once = set()   # paths whose next GET stops sending halfway (for 3 s)
        self.fail_once = {}       # paths whose next GET answers this status (e.g. 503)
        self.renamed = {}         # old repo id -> new one: 307 to the new URL, as the Hub does
        self.cdn_hop = False      # the CDN redirects once more, to a signed URL
        self.log = []             # (server, method, path, headers)
        self.lock = threading.Lock()

    def add_repo(self, repo_id: str, branches: dict):
        entry = self.repos.setdefault(repo_id, {"branches": {}, "commits": {}})
        for name, commit in branches.items():
            entry["branches"][name] = commit
            entry["commits"][commit.sha] = commit

    def resolve(self, repo_id: str, revision: str):
        repo = self.repos.get(repo_id)
        if repo is None:
            return None, "RepoNotFound"
        commit = repo["branches"].get(revision) or repo["commits"].get(revision)
        if commit is None:
            return None, "RevisionNotFound"
        return commit, None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: HubState = None
    cdn_base = ""     # http://127.0.0.1:<cdn port>
    is_cdn = False

    def log_message(self, *args):
        pass

    # --- helpers -------------------------------------------------------------------------------
    def send(self, status, body=b"", headers=None, head=False):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def error(self, status, code, message, head=False, extra=None):
        headers = {"X-Error-Code": code, "X-Error-Message": message,
                   "Content-Type": "application/json", **(extra or {})}
        self.send(status, json.dumps({"error": message}).encode(), headers, head)

    def authorized(self, head):
        token = self.state.token
        if token is None:
            return True
        got = self.headers.get("Authorization")
        if got == f"Bearer {token}":
            return True
        message = "Invalid credentials in Authorization header" if got else \
            "Access to this model is restricted. You must be authenticated to access it."
        self.error(401, "GatedRepo" if not got else "InvalidCredentials", message, head)
        return False

    # --- routes --------------------------------------------------------------------------------
    def do_HEAD(self):
        self.route(head=True)

    def do_GET(self):
        self.route(head=False)

    def route(self, head):
        with self.state.lock:
            self.state.log.append(("cdn" if self.is_cdn else "hub", self.command, self.path,
                                   dict(self.headers.items())))
        path = urlsplit(self.path).path
        if self.is_cdn:
            return self.serve_cdn(path, head)
        if not self.authorized(head):
            return
        parts = path.split("/")
        for old, new in self.state.renamed.items():
            for prefix in (f"/api/models/{old}/", f"/{old}/resolve/"):
                if path.startswith(prefix):
                    location = prefix.replace(old, new) + path[len(prefix):]
                    return self.send(307, b"", {"Location": location}, head)
        if path.startswith("/api/models/"):
            # /api/models/<org>/<name>/(revision|tree)/<rev>
            if len(parts) >= 7 and parts[5] in ("revision", "tree"):
                return self.serve_api("/".join(parts[3:5]), parts[5], unquote(parts[6]), head)
            return self.error(404, "RepoNotFound", "Repository not found", head)
        # /<org>/<name>/resolve/<rev>/<path...>
        if len(parts) >= 6 and parts[3] == "resolve":
            return self.serve_resolve("/".join(parts[1:3]), unquote(parts[4]),
                                      unquote("/".join(parts[5:])), head)
        self.error(404, "RepoNotFound", "Repository not found", head)

    def serve_api(self, repo_id, kind, revision, head):
        commit, problem = self.state.resolve(repo_id, revision)
        if commit is None:
            message = "Repository not found" if problem == "RepoNotFound" else \
                f"Invalid rev id: {revision}"
            return self.error(404, problem, message, head)
        if kind == "revision":
            body = {"id": repo_id, "modelId": repo_id, "sha": commit.sha, "private": False,
                    "siblings": [{"rfilename": name} for name in commit.files]}
        else:
            body, folders = [], set()
            for name, data in commit.files.items():
                parent = name.rsplit("/", 1)[0] if "/" in name else None
                if parent and parent not in folders:
                    folders.add(parent)
                    body.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": parent})
                entry = {"type": "file", "oid": git_blob_id(data), "size": len(data), "path": name}
                if Commit.is_lfs(name):
                    entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data),
                                    "pointerSize": 134}
                body.append(entry)
        self.send(200, json.dumps(body).encode(), {"Content-Type": "application/json"}, head)

    def serve_resolve(self, repo_id, revision, name, head):
        commit, problem = self.state.resolve(repo_id, revision)
        if commit is None:
            message = "Repository not found" if problem == "RepoNotFound" else \
                f"Invalid rev id: {revision}"
            return self.error(404, problem, message, head)
        common = {"X-Repo-Commit": commit.sha}
        data = commit.files.get(name)
        if data is None:
            return self.error(404, "EntryNotFound", f"{name} does not exist", head, common)
        if Commit.is_lfs(name):
            sha = hashlib.sha256(data).hexdigest()
            location = f"{self.cdn_base}/blobs/{sha}?file={quote(name)}"
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\n"
            headers = {**common, "Location": location, "X-Linked-Etag": f'"{sha}"',
                       "X-Linked-Size": str(len(data)), "ETag": f'"{git_blob_id(pointer.encode())}"'}
            return self.send(302, b"", headers, head)
        self.serve_bytes(name, data, {**common, "ETag": f'"{git_blob_id(data)}"'}, head)

    def serve_cdn(self, path, head):
        if "Authorization" in self.headers:
            return self.error(400, "AuthLeak", "the CDN got an Authorization header", head)
        sha = path.rsplit("/", 1)[-1]
        if self.state.cdn_hop and path.startswith("/blobs/"):
            return self.send(302, b"", {"Location": f"/signed/{sha}?X-Signature=s3cr3t"}, head)
        for repo in self.state.repos.values():
            for commit in repo["commits"].values():
                for name, data in commit.files.items():
                    if Commit.is_lfs(name) and hashlib.sha256(data).hexdigest() == sha:
                        return self.serve_bytes(name, data, {"ETag": f'"{sha}"'}, head)
        self.error(404, "EntryNotFound", "no such blob", head)

    def serve_bytes(self, name, data, headers, head):
        if name in self.state.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        headers = {**headers, "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        start, status = 0, 200
        wanted = self.headers.get("Range")
        if wanted and wanted.startswith("bytes=") and wanted.endswith("-"):
            start = int(wanted[6:-1])
            if start >= len(data):
                return self.send(416, b"", {"Content-Range": f"bytes */{len(data)}"}, head)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        drop = stall = False
        fail = None
        if not head:
            with self.state.lock:
                drop = name in self.state.drop_once
                stall = name in self.state.stall_once
                fail = self.state.fail_once.pop(name, None)
                self.state.drop_once.discard(name)
                self.state.stall_once.discard(name)
        if fail:
            return self.error(fail, "ServiceUnavailable", "try again later", head)
        if drop or stall:
            # Announce everything, send half, hang up.
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                if stall:
                    time.sleep(3)
            except OSError:
                pass  # the client gave up first
            self.close_connection = True
            return
        self.send(status, body, headers, head)


class HubServer:
    """The Hub on one port and its CDN on another, in background threads."""

    def __init__(self):
        self.state = HubState()
        cdn_handler = type("CdnHandler", (Handler,), {"state": self.state, "is_cdn": True})
        self.cdn = ThreadingHTTPServer(("127.0.0.1", 0), cdn_handler)
        hub_handler = type("HubHandler", (Handler,), {
            "state": self.state, "cdn_base": f"http://127.0.0.1:{self.cdn.server_port}"})
        self.hub = ThreadingHTTPServer(("127.0.0.1", 0), hub_handler)
        self.endpoint = f"http://127.0.0.1:{self.hub.server_port}"
        self.threads = [threading.Thread(target=s.serve_forever, daemon=True)
                        for s in (self.hub, self.cdn)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        for server in (self.hub, self.cdn):
            server.shutdown()
            server.server_close()
