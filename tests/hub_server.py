"""A small Hugging Face Hub-compatible HTTP server for the tests, on 127.0.0.1.

It speaks what huggingface_hub's client calls for: create_repo, preupload + commit (every file
"regular", content in the commit), branches and tags, revision info, tree listings and file resolution
(HEAD/GET with X-Repo-Commit and ETag). Repos, commits and files live in memory. Private repos need
`Authorization: Bearer <token>` with a token in `tokens`; every write needs one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"
REV = r"(?P<rev>[^/?]+)"


def blob_oid(content: bytes) -> str:
    """Git's blob id of `content` (what the Hub reports as a regular file's oid)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Repo:
    private: bool = False
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # sha -> {path: content}
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> sha
    tags: set[str] = field(default_factory=set)

    def resolve(self, revision: str) -> str | None:
        revision = unquote(revision)
        if revision in self.refs:
            return self.refs[revision]
        return revision if revision in self.commits else None


class HubServer:
    """Start with `with HubServer(tokens={"hf_x"}) as hub: hub.url`; `hub.requests` logs every call."""

    def __init__(self, tokens: set[str] | None = None):
        self.tokens = set(tokens or ())
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.tamper: dict[tuple[str, str], bytes] = {}  # (repo, file) -> bytes served instead of the real ones
        self.failure: str | None = None  # "server-error": every request answers HTTP 500; "hang-up": no answer at all
        self.counter = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HubServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def commit(self, repo: Repo, parent: str | None, files: dict[str, bytes], deleted: set[str]) -> str:
        with self._lock:
            self.counter += 1
            tree = dict(repo.commits.get(parent, {})) if parent else {}
            tree.update(files)
            for path in deleted:
                tree.pop(path, None)
            sha = hashlib.sha1(f"commit {self.counter} {sorted(tree)}".encode()).hexdigest()
            repo.commits[sha] = tree
            return sha

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            # -- plumbing ------------------------------------------------------------------------
            def body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def reply(self, status: int, payload=None, headers: dict | None = None, raw: bytes | None = None, head=False):
                data = raw if raw is not None else (json.dumps(payload).encode() if payload is not None else b"")
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if raw is None else "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if not head:
                    self.wfile.write(data)

            def error(self, status: int, code: str, message: str, head=False):
                self.reply(status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message}, head=head)

            def token(self) -> str | None:
                auth = self.headers.get("Authorization", "")
                return auth[7:] if auth.startswith("Bearer ") else None

            def authorised(self) -> bool:
                return self.token() in hub.tokens

            def repo(self, repo_id: str, head=False) -> Repo | None:
                repo = hub.repos.get(repo_id)
                if repo is None or (repo.private and not self.authorised()):
                    if repo is not None and self.token() is None:
                        self.error(401, "RepoNotFound", f"Repository {repo_id} is private: authenticate", head=head)
                    else:
                        self.error(404, "RepoNotFound", f"Repository {repo_id} not found", head=head)
                    return None
                return repo

            # -- routes --------------------------------------------------------------------------
            def do_HEAD(self):
                self.route("HEAD")

            def do_GET(self):
                self.route("GET")

            def do_POST(self):
                self.route("POST")

            def route(self, method: str):
                url = urlparse(self.path)
                path, query = unquote(url.path), parse_qs(url.query)
                body = self.body() if method == "POST" else b""
                hub.requests.append((method, path))
                if hub.failure == "server-error":
                    return self.error(500, "InternalError", "something broke on the server")
                if hub.failure == "hang-up":  # close the connection without a response
                    self.close_connection = True
                    return
                for pattern, handler in ROUTES.get(method, []):
                    match = re.fullmatch(pattern, path)
                    if match:
                        try:
                            return handler(self, body=body, query=query, **match.groupdict())
                        except Exception as exc:  # a server bug: say so instead of dropping the connection
                            return self.error(500, "ServerError", f"{type(exc).__name__}: {exc}", head=method == "HEAD")
                self.error(404, "EntryNotFound", f"no route {method} {path}", head=method == "HEAD")

            def create(self, body, query):
                request = json.loads(body)
                repo_id = f"{request.get('organization') or 'user'}/{request['name']}"
                if not self.authorised():
                    return self.error(401, "Unauthorized", "Invalid credentials in Authorization header")
                url = {"url": f"{hub.url}/{repo_id}", "name": repo_id}
                if repo_id in hub.repos:
                    return self.reply(409, {**url, "error": "You already created this model repo"})
                repo = Repo(private=bool(request.get("private")) or request.get("visibility") == "private")
                repo.refs["main"] = hub.commit(repo, None, {".gitattributes": b""}, set())
                hub.repos[repo_id] = repo
                self.reply(200, url)

            def preupload(self, body, query, repo, rev):
                if not self.authorised():
                    return self.error(401, "Unauthorized", "a write token is needed")
                if (found := self.repo(repo)) is None:
                    return
                tree = found.commits.get(found.resolve(rev) or "", {})
                files = [
                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                     "oid": blob_oid(tree[f["path"]]) if f["path"] in tree else None}
                    for f in json.loads(body)["files"]
                ]
                self.reply(200, {"files": files})

            def commit(self, body, query, repo, rev):
                if not self.authorised():
                    return self.error(401, "Unauthorized", "a write token is needed")
                if (found := self.repo(repo)) is None:
                    return
                if unquote(rev) not in found.refs or unquote(rev) in found.tags:
                    return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
                files, deleted = {}, set()
                for line in body.splitlines():
                    entry = json.loads(line)
                    if entry["key"] == "file":
                        files[entry["value"]["path"]] = base64.b64decode(entry["value"]["content"])
                    elif entry["key"] == "deletedFile":
                        deleted.add(entry["value"]["path"])
                    elif entry["key"] == "lfsFile":
                        return self.error(400, "BadRequest", "this server takes regular files only")
                sha = hub.commit(found, found.refs[unquote(rev)], files, deleted)
                reply = {"commitOid": sha, "commitUrl": f"{hub.url}/{repo}/commit/{sha}", "success": True}
                if query.get("create_pr", ["0"])[0] in ("1", "true", "True"):  # a pull request: refs/pr/N, base untouched
                    number = sum(ref.startswith("refs/pr/") for ref in found.refs) + 1
                    found.refs[f"refs/pr/{number}"] = sha
                    reply["pullRequestUrl"] = f"{hub.url}/{repo}/discussions/{number}"
                else:
                    found.refs[unquote(rev)] = sha
                self.reply(200, reply)

            def info(self, body, query, repo, rev="main"):
                if (found := self.repo(repo)) is None:
                    return
                sha = found.resolve(rev)
                if sha is None:
                    return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
                siblings = [
                    {"rfilename": path, "size": len(content), "blobId": blob_oid(content)}
                    for path, content in sorted(found.commits[sha].items())
                ]
                self.reply(200, {"id": repo, "modelId": repo, "sha": sha, "private": found.private, "siblings": siblings,
                                 "tags": [], "lastModified": "2026-11-22T00:00:00.000Z"})

            def tree(self, body, query, repo, rev, subpath=""):
                if (found := self.repo(repo)) is None:
                    return
                sha = found.resolve(rev)
                if sha is None:
                    return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
                prefix = f"{subpath.strip('/')}/" if subpath and subpath.strip("/") else ""
                entries = [
                    {"type": "file", "path": path, "size": len(content), "oid": blob_oid(content)}
                    for path, content in sorted(found.commits[sha].items()) if path.startswith(prefix)
                ]
                self.reply(200, entries)

            def resolve(self, body, query, repo, rev, file, head=False):
                if (found := self.repo(repo, head=head)) is None:
                    return
                sha = found.resolve(rev)
                if sha is None:
                    return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head=head)
                if file not in found.commits[sha]:
                    return self.error(404, "EntryNotFound", f"{file} does not exist at {rev}", head=head)
                content = found.commits[sha][file]
                served = hub.tamper.get((repo, file), content)
                self.reply(200, raw=served, head=head, headers={"X-Repo-Commit": sha, "ETag": f'"{blob_oid(content)}"'})

            def resolve_head(self, body, query, repo, rev, file):
                self.resolve(body, query, repo, rev, file, head=True)

            def reference(self, body, query, repo, rev, kind):
                if not self.authorised():
                    return self.error(401, "Unauthorized", "a write token is needed")
                if (found := self.repo(repo)) is None:
                    return
                request = json.loads(body or b"{}")
                if kind == "tag":
                    name, sha = request["tag"], found.resolve(rev)
                else:
                    name, sha = rev, found.resolve(request.get("startingPoint") or "main")
                if name in found.refs:
                    return self.reply(409, {"error": f"{kind} {name} already exists"})
                if sha is None:
                    return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
                found.refs[name] = sha
                if kind == "tag":
                    found.tags.add(name)
                self.reply(200, {})

            def validate_yaml(self, body, query):
                self.reply(200, {"errors": [], "warnings": []})

        ROUTES = {
            "POST": [
                (r"/api/repos/create", Handler.create),
                (rf"/api/models/{REPO}/preupload/{REV}", Handler.preupload),
                (rf"/api/models/{REPO}/commit/{REV}", Handler.commit),
                (rf"/api/models/{REPO}/(?P<kind>tag)/{REV}", Handler.reference),
                (rf"/api/models/{REPO}/(?P<kind>branch)/{REV}", Handler.reference),
                (r"/api/validate-yaml", Handler.validate_yaml),
            ],
            "GET": [
                (rf"/api/models/{REPO}", Handler.info),
                (rf"/api/models/{REPO}/revision/{REV}", Handler.info),
                (rf"/api/models/{REPO}/tree/{REV}(?P<subpath>/.*)?", Handler.tree),
                (rf"/{REPO}/resolve/{REV}/(?P<file>.+)", Handler.resolve),
            ],
            "HEAD": [(rf"/{REPO}/resolve/{REV}/(?P<file>.+)", Handler.resolve_head)],
        }
        return Handler
