#!/usr/bin/env python3
"""tests/support/acr_fixture.py: a FIXTURE, NOT ACR. There is no ACR offline;
this server only serves the documented JSON shapes of Azure Container
Registry's metadata API (Azure/acr-cli acr/models.go, docs/swagger.yaml; see
../shared/reference/purge.md §1.8-1.9) so regsh's ACR code path can be tested
on 127.0.0.1. It is in-memory, loopback only, for tests.

Served:
  /oauth2/token     POST form grant_type=refresh_token&service&scope&refresh_token
                    (the refresh token is --refresh-token), or GET ?service&scope
                    with Basic admin credentials (--user) -> {"access_token"}.
                    Basic with the null GUID username is refused: a refresh token
                    goes through the POST exchange.
  /oauth2/exchange  POST form grant_type=access_token&service&tenant&access_token
                    (the AAD token is --aad-token) -> {"refresh_token"}
  /v2/              401 Bearer realm="http://HOST/oauth2/token",service="HOST"
                    without a token; /v2/_catalog, /v2/<repo>/tags/list (Link
                    paging), /v2/<repo>/manifests/<ref> HEAD/GET/PUT/DELETE (by
                    digest), /v2/<repo>/blobs/<digest> GET/HEAD (configs)
  /acr/v1/_catalog, /acr/v1/<repo>
  /acr/v1/<repo>/_tags            ?n&last&orderby=timedesc|timeasc&digest
                                  with orderby, `last` is an opaque cursor
                                  (e.g. 8586...%2612.04) delivered only in Link
  /acr/v1/<repo>/_tags/<tag>      GET, DELETE (untag), PATCH (changeableAttributes)
  /acr/v1/<repo>/_manifests       ?n&last(=digest)&orderby
  /acr/v1/<repo>/_manifests/<d>   GET, PATCH
Scopes are enforced like ACR: repository:<repo>:pull|push|delete|metadata_read|
metadata_write (or *), registry:catalog:*; a missing scope gives a 401 challenge
naming it. Locked items (deleteEnabled/writeEnabled false) answer 405.

Test control (not ACR): POST /_fixture/seed {"repo", "count", "per_manifest",
"start" (unix), "step" (s)} or {"repo", "tags": [{"name", "time", "manifest"}]};
GET /_fixture/stats (grants, denials, requests); GET /_fixture/log;
GET /_fixture/repo/<repo> (raw state); POST /_fixture/reset-stats.

Usage: acr_fixture.py [--port 0] [--watch PID] [--refresh-token RT] [--aad-token T]
       [--user name:pass] [--seed repo=count ...] [--ttl 3600]
Prints `port=PORT pid=PID` when ready. Python 3 standard library only.
"""
import argparse
import base64
import hashlib
import json
import re
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit, unquote

from lifetime import serve

NULL_GUID = "00000000-0000-0000-0000-000000000000"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MAX_LOG = 20000
MAX_BODY = 4 << 20


def acr_time(t):
    """ACR style: 2019-08-01T21:09:34.0573958Z (7 fractional digits)."""
    frac = int(round((t - int(t)) * 1e7)) % 10000000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(t))) + ".%07dZ" % frac


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def attrs(**kw):
    a = {"deleteEnabled": True, "writeEnabled": True, "readEnabled": True, "listEnabled": True}
    a.update(kw)
    return a


class Store:
    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.repos = {}     # name -> {"tags": {name: tag}, "manifests": {digest: m}, "blobs": {}}
        self.tokens = {}    # access token -> {"exp", "access"}
        self.cursors = {}   # opaque cursor -> (repo, kind, orderby, sort key)
        self.log = []
        self.reset_stats()

    def reset_stats(self):
        with self.lock:
            self.stats = {"requests": 0, "denied": 0, "grants": {}, "challenges": 0}

    def bump(self, key, sub=None):
        with self.lock:
            if sub is None:
                self.stats[key] += 1
            else:
                self.stats[key][sub] = self.stats[key].get(sub, 0) + 1

    def repo(self, name, create=False):
        r = self.repos.get(name)
        if r is None and create:
            r = self.repos[name] = {"tags": {}, "manifests": {}, "blobs": {},
                                    "created": time.time()}
        return r

    def make_manifest(self, repo, key, t, arch="amd64"):
        """An OCI image manifest with a real config blob; returns its digest."""
        r = self.repo(repo, True)
        config = json.dumps({"architecture": arch, "os": "linux", "created": acr_time(t)[:19] + "Z",
                             "config": {"Labels": {"fixture.key": str(key)}},
                             "rootfs": {"type": "layers", "diff_ids": []}},
                            sort_keys=True).encode()
        cd = sha256(config)
        r["blobs"][cd] = config
        raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                          "config": {"mediaType": OCI_CONFIG, "digest": cd, "size": len(config)},
                          "layers": []}, indent=3).encode()
        return self.put_manifest(repo, raw, OCI_MANIFEST, t)

    def put_manifest(self, repo, raw, media_type, t=None):
        r = self.repo(repo, True)
        d = sha256(raw)
        t = t or time.time()
        if d not in r["manifests"]:
            arch = osn = cmt = None
            try:
                doc = json.loads(raw)
                cfg = (doc.get("config") or {})
                cmt = cfg.get("mediaType")
                blob = r["blobs"].get(cfg.get("digest"))
                if blob:
                    c = json.loads(blob)
                    arch, osn = c.get("architecture"), c.get("os")
            except (ValueError, AttributeError):
                pass
            r["manifests"][d] = {"raw": raw, "mediaType": media_type, "createdTime": t,
                                 "lastUpdateTime": t, "architecture": arch, "os": osn,
                                 "configMediaType": cmt, "attrs": attrs()}
        return d

    def tag(self, repo, name, digest, t):
        r = self.repo(repo, True)
        old = r["tags"].get(name)
        r["tags"][name] = {"name": name, "digest": digest,
                           "createdTime": old["createdTime"] if old else t,
                           "lastUpdateTime": t, "attrs": old["attrs"] if old else attrs()}

    def seed(self, spec):
        with self.lock:
            repo = spec["repo"]
            if "tags" in spec:
                keys = {}
                for i, t in enumerate(spec["tags"]):
                    when = t.get("time", time.time() - 1000 + i)
                    key = t.get("manifest", t["name"])
                    if key not in keys:
                        keys[key] = self.make_manifest(repo, key, when, t.get("arch", "amd64"))
                    self.tag(repo, t["name"], keys[key], when)
                return len(spec["tags"])
            count = int(spec.get("count", 10))
            per = max(1, int(spec.get("per_manifest", 1)))
            start = float(spec.get("start", 1700000000))
            step = float(spec.get("step", 3600))
            prefix = spec.get("prefix", "v")
            width = len(str(count))
            digests = {}
            for i in range(count):
                # time order differs from name order on purpose (a permutation)
                slot = (i * 7919) % count if count % 7919 else i
                when = start + slot * step + 0.0573958
                key = i // per
                if key not in digests:
                    digests[key] = self.make_manifest(repo, key, when)
                self.tag(repo, "%s%0*d" % (prefix, width, i), digests[key], when)
            return count

    def new_cursor(self, repo, kind, orderby, key):
        # looks like ACR's (e.g. 8586163895140836946%2612.04); meaningless to clients
        ticks = 8586999999999999999 - int(key[0] * 1e7) % 8586999999999999999
        cursor = "%d&%d.%02d" % (ticks, secrets.randbelow(100), secrets.randbelow(100))
        with self.lock:
            if len(self.cursors) > 100000:  # bounded: forget the oldest half
                for k in list(self.cursors)[:50000]:
                    del self.cursors[k]
            self.cursors[cursor] = (repo, kind, orderby, key)
        return cursor


def tag_json(t):
    return {"name": t["name"], "digest": t["digest"], "createdTime": acr_time(t["createdTime"]),
            "lastUpdateTime": acr_time(t["lastUpdateTime"]), "signed": False,
            "changeableAttributes": dict(t["attrs"])}


def manifest_json(d, m, tags):
    out = {"digest": d, "imageSize": len(m["raw"]), "createdTime": acr_time(m["createdTime"]),
           "lastUpdateTime": acr_time(m["lastUpdateTime"]), "mediaType": m["mediaType"],
           "tags": tags, "changeableAttributes": dict(m["attrs"])}
    for k in ("architecture", "os", "configMediaType"):
        if m.get(k):
            out[k] = m[k]
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "regsh-acr-fixture/1"

    def log_message(self, fmt, *args):
        if self.server.args.verbose:
            sys.stderr.write("acr_fixture: " + (fmt % args) + "\n")

    @property
    def store(self):
        return self.server.store

    def host(self):
        return self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_address[1]

    def send(self, status, body=b"", content_type="application/json; charset=utf-8",
             headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.send_header("X-Ms-Correlation-Request-Id", secrets.token_hex(8))
        self.send_header("X-Ms-Ratelimit-Remaining-Calls-Per-Second", "166.65")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self.store.log.append({"t": time.time(), "method": self.command, "path": self.path,
                               "status": status, "auth": self.auth_kind})
        if len(self.store.log) > MAX_LOG:
            del self.store.log[:1000]

    def error(self, status, code, message, headers=None):
        self.send(status, {"errors": [{"code": code, "message": message}]}, headers=headers)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body too big")
        return self.rfile.read(n) if n else b""

    # ---- auth --------------------------------------------------------------
    def challenge(self, scope=None, error=None):
        self.store.bump("challenges")
        v = 'Bearer realm="http://%s/oauth2/token",service="%s"' % (self.host(), self.host())
        if scope:
            v += ',scope="%s"' % scope
        if error:
            v += ',error="%s"' % error
        self.error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": v})

    def token_access(self):
        auth = self.headers.get("Authorization") or ""
        kind, _, value = auth.partition(" ")
        if kind.lower() != "bearer":
            return None
        with self.store.lock:
            tok = self.store.tokens.get(value.strip())
        if not tok or tok["exp"] < time.time():
            return None
        return tok["access"]

    def authorize(self, typ, name, action):
        """True, or answers a 401 challenge naming the scope needed and returns False."""
        access = self.token_access()
        scope = "%s:%s:%s" % (typ, name, action)
        if access is None:
            self.challenge(scope if name else None)
            return False
        if not name:
            return True
        for a in access:
            if a["type"] == typ and a["name"] in (name, "*") and (
                    action in a["actions"] or "*" in a["actions"]):
                return True
        self.challenge(scope, "insufficient_scope")
        return False

    def issue(self, grant, subject, scopes):
        access = []
        for s in scopes:
            typ, _, rest = s.partition(":")
            name, _, acts = rest.rpartition(":")
            if typ and name:
                access.append({"type": typ, "name": name, "actions": acts.split(",")})
        now = int(time.time())
        exp = now + self.server.args.ttl
        payload = {"jti": secrets.token_hex(8), "sub": subject, "nbf": now, "exp": exp,
                   "iat": now, "iss": "Azure Container Registry", "aud": self.host(),
                   "version": "1.0", "grant_type": grant, "access": access}
        token = (b64url(b'{"alg":"RS256","typ":"JWT","kid":"FIXTURE"}') + "."
                 + b64url(json.dumps(payload).encode()) + "." + b64url(secrets.token_bytes(32)))
        with self.store.lock:
            self.store.tokens[token] = {"exp": exp, "access": access}
        self.store.bump("grants", grant)
        return token

    def oauth(self, path, query):
        form = {}
        if self.command == "POST":
            form = parse_qs(self.read_body().decode("utf-8", "replace"))
        else:
            form = query
        one = lambda k: (form.get(k) or [""])[0]
        scopes = []
        for s in form.get("scope", []):
            scopes.extend(x for x in s.split(" ") if x)
        if path == "/oauth2/exchange":
            if self.command != "POST":
                return self.error(405, "UNSUPPORTED", "POST only")
            if one("grant_type") not in ("access_token", "access_token_refresh_token"):
                return self.error(400, "UNSUPPORTED", "unsupported grant_type")
            if one("access_token") != self.server.args.aad_token:
                self.store.bump("denied")
                return self.error(401, "UNAUTHORIZED", "invalid AAD access token")
            self.store.bump("grants", "exchange")
            return self.send(200, {"refresh_token": self.server.args.refresh_token})
        # /oauth2/token
        if self.command == "POST":
            if one("grant_type") != "refresh_token":
                return self.error(400, "UNSUPPORTED", "unsupported grant_type")
            if one("refresh_token") != self.server.args.refresh_token:
                self.store.bump("denied")
                return self.error(401, "UNAUTHORIZED", "invalid refresh token")
            return self.send(200, {"access_token": self.issue("refresh_token", NULL_GUID, scopes)})
        auth = self.headers.get("Authorization") or ""
        kind, _, value = auth.partition(" ")
        if kind.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, password = "", ""
            want = self.server.args.user.partition(":") if self.server.args.user else None
            if user != NULL_GUID and want and user == want[0] and password == want[2]:
                return self.send(200, {"access_token": self.issue("password", user, scopes)})
        self.store.bump("denied")
        return self.error(401, "UNAUTHORIZED", "invalid credentials",
                          {"WWW-Authenticate": 'Basic realm="%s"' % self.host()})

    # ---- pagination ----------------------------------------------------------
    def link(self, path, params):
        q = "&".join("%s=%s" % (k, quote(str(v), safe="")) for k, v in params if v is not None)
        return {"Link": '<%s?%s>; rel="next"' % (path, q)}

    # ---- /acr/v1 -------------------------------------------------------------
    def acr(self, path, query):
        st = self.store
        one = lambda k: (query.get(k) or [None])[0]
        n = min(int(one("n") or 100), 1000)
        if path == "/acr/v1/_catalog":
            if not self.authorize("registry", "catalog", "*"):
                return
            names = sorted(st.repos)
            last = one("last")
            if last:
                names = [x for x in names if x > last]
            hdr = self.link("/acr/v1/_catalog", [("last", names[n - 1]), ("n", n)]) \
                if len(names) > n else None
            return self.send(200, {"repositories": names[:n]}, headers=hdr)
        m = re.match(r"^/acr/v1/(.+?)(?:/(_tags|_manifests)(?:/([^/]+))?)?$", path)
        if not m:
            return self.error(404, "NAME_UNKNOWN", "no such path")
        repo, kind, item = m.group(1), m.group(2), m.group(3) and unquote(m.group(3))
        need = {"GET": "metadata_read", "HEAD": "metadata_read", "PATCH": "metadata_write",
                "DELETE": "delete"}.get(self.command, "metadata_write")
        if not self.authorize("repository", repo, need):
            return
        with st.lock:
            r = st.repo(repo)
            if r is None:
                return self.error(404, "NAME_UNKNOWN", "repository %s not found" % repo)
            base = {"registry": self.host(), "imageName": repo}
            if kind is None:
                if self.command != "GET":
                    return self.error(405, "UNSUPPORTED", "fixture: GET only")
                return self.send(200, dict(base, createdTime=acr_time(r["created"]),
                                           lastUpdateTime=acr_time(time.time()),
                                           manifestCount=len(r["manifests"]),
                                           tagCount=len(r["tags"]),
                                           changeableAttributes=attrs()))
            if kind == "_tags":
                return self.acr_tags(r, repo, base, item, query, n)
            return self.acr_manifests(r, repo, base, item, query, n)

    def patch_attrs(self, target):
        try:
            body = json.loads(self.read_body() or b"{}")
        except ValueError:
            return self.error(400, "BAD_REQUEST", "bad JSON") or False
        if not isinstance(body, dict):
            return self.error(400, "BAD_REQUEST", "want an object") or False
        for k in ("deleteEnabled", "writeEnabled", "readEnabled", "listEnabled"):
            if k in body:
                if not isinstance(body[k], bool):
                    return self.error(400, "BAD_REQUEST", k + " must be a boolean") or False
                target[k] = body[k]
        return True

    def acr_tags(self, r, repo, base, item, query, n):
        st = self.store
        one = lambda k: (query.get(k) or [None])[0]
        if item is not None:
            t = r["tags"].get(item)
            if t is None:
                return self.error(404, "TAG_UNKNOWN", "tag %s not found" % item)
            if self.command == "GET":
                return self.send(200, dict(base, tag=tag_json(t)))
            if self.command == "DELETE":
                if not t["attrs"]["deleteEnabled"]:
                    return self.error(405, "DENIED", "tag %s is locked (deleteEnabled=false)" % item)
                del r["tags"][item]
                return self.send(202)
            if self.command == "PATCH":
                if self.patch_attrs(t["attrs"]):
                    return self.send(200, dict(base, tag=tag_json(t)))
                return
            return self.error(405, "UNSUPPORTED", "method not allowed")
        if self.command != "GET":
            return self.error(405, "UNSUPPORTED", "method not allowed")
        orderby = one("orderby")
        tags = list(r["tags"].values())
        if one("digest"):
            tags = [t for t in tags if t["digest"] == one("digest")]
        last = one("last")
        if orderby in ("timedesc", "timeasc"):
            desc = orderby == "timedesc"
            key = lambda t: (t["lastUpdateTime"], t["name"])
            tags.sort(key=key, reverse=desc)
            if last:
                cur = st.cursors.get(last)
                if not cur or cur[0] != repo or cur[1] != "_tags" or cur[2] != orderby:
                    return self.error(400, "PAGINATION_INVALID",
                                      "invalid last cursor for orderby=%s: %r" % (orderby, last))
                k = cur[3]
                tags = [t for t in tags if (key(t) < k if desc else key(t) > k)]
            page = tags[:n]
            hdr = None
            if len(tags) > n:
                cursor = st.new_cursor(repo, "_tags", orderby, key(page[-1]))
                hdr = self.link("/acr/v1/%s/_tags" % repo,
                                [("last", cursor), ("n", n), ("orderby", orderby)])
        else:
            tags.sort(key=lambda t: t["name"])
            if last:
                tags = [t for t in tags if t["name"] > last]
            page = tags[:n]
            hdr = self.link("/acr/v1/%s/_tags" % repo, [("last", page[-1]["name"]), ("n", n)]) \
                if len(tags) > n else None
        return self.send(200, dict(base, tags=[tag_json(t) for t in page]), headers=hdr)

    def acr_manifests(self, r, repo, base, item, query, n):
        one = lambda k: (query.get(k) or [None])[0]
        tags_of = {}
        for t in r["tags"].values():
            tags_of.setdefault(t["digest"], []).append(t["name"])
        if item is not None:
            mf = r["manifests"].get(item)
            if mf is None:
                return self.error(404, "MANIFEST_UNKNOWN", "manifest %s not found" % item)
            if self.command == "GET":
                return self.send(200, dict(base, manifest=manifest_json(
                    item, mf, sorted(tags_of.get(item, [])))))
            if self.command == "PATCH":
                if self.patch_attrs(mf["attrs"]):
                    return self.send(200, dict(base, manifest=manifest_json(
                        item, mf, sorted(tags_of.get(item, [])))))
                return
            return self.error(405, "UNSUPPORTED", "method not allowed")
        if self.command != "GET":
            return self.error(405, "UNSUPPORTED", "method not allowed")
        items = sorted(r["manifests"].items())
        orderby = one("orderby")
        if orderby == "timedesc":
            items.sort(key=lambda kv: kv[1]["lastUpdateTime"], reverse=True)
        elif orderby == "timeasc":
            items.sort(key=lambda kv: kv[1]["lastUpdateTime"])
        last = one("last")
        if last:  # acr-cli pages manifests by the last digest of the page
            idx = [i for i, (d, _) in enumerate(items) if d == last]
            items = items[idx[0] + 1:] if idx else []
        page = items[:n]
        hdr = None
        if len(items) > n:
            params = [("last", page[-1][0]), ("n", n)]
            if orderby:
                params.append(("orderby", orderby))
            hdr = self.link("/acr/v1/%s/_manifests" % repo, params)
        return self.send(200, dict(base, manifests=[manifest_json(d, m, sorted(tags_of.get(d, [])))
                                                    for d, m in page]), headers=hdr)

    # ---- /v2 -----------------------------------------------------------------
    def v2(self, path, query):
        st = self.store
        one = lambda k: (query.get(k) or [None])[0]
        if path in ("/v2", "/v2/"):
            if self.token_access() is None:
                return self.challenge()
            return self.send(200, b"{}")
        if path == "/v2/_catalog":
            if not self.authorize("registry", "catalog", "*"):
                return
            n = min(int(one("n") or 100), 1000)
            names = sorted(st.repos)
            if one("last"):
                names = [x for x in names if x > one("last")]
            hdr = self.link("/v2/_catalog", [("last", names[n - 1]), ("n", n)]) \
                if len(names) > n else None
            return self.send(200, {"repositories": names[:n]}, headers=hdr)
        m = re.match(r"^/v2/(.+)/(tags/list|manifests/[^/]+|blobs/[^/]+|referrers/[^/]+)$", path)
        if not m:
            return self.error(404, "NOT_FOUND", "no such path")
        repo, rest = m.group(1), m.group(2)
        need = {"GET": "pull", "HEAD": "pull", "DELETE": "delete"}.get(self.command, "push")
        if not self.authorize("repository", repo, need):
            return
        with st.lock:
            r = st.repo(repo, create=self.command == "PUT")
            if r is None:
                return self.error(404, "NAME_UNKNOWN", "repository %s not found" % repo)
            if rest == "tags/list":
                n = min(int(one("n") or 100), 1000)
                names = sorted(r["tags"])
                if one("last"):
                    names = [x for x in names if x > one("last")]
                hdr = self.link("/v2/%s/tags/list" % repo, [("last", names[n - 1]), ("n", n)]) \
                    if len(names) > n else None
                return self.send(200, {"name": repo, "tags": names[:n]}, headers=hdr)
            kind, _, ref = rest.partition("/")
            if kind == "referrers":
                return self.error(404, "NOT_FOUND", "fixture: no referrers API")
            if kind == "blobs":
                blob = r["blobs"].get(ref)
                if blob is None:
                    return self.error(404, "BLOB_UNKNOWN", "blob unknown")
                return self.send(200, blob, "application/octet-stream",
                                 {"Docker-Content-Digest": ref})
            return self.v2_manifest(r, repo, ref)

    def v2_manifest(self, r, repo, ref):
        st = self.store
        if self.command == "PUT":
            raw = self.read_body()
            ctype = self.headers.get("Content-Type") or OCI_MANIFEST
            if ref.startswith("sha256:") and sha256(raw) != ref:
                return self.error(400, "DIGEST_INVALID", "digest mismatch")
            old = r["tags"].get(ref)
            if old and not old["attrs"]["writeEnabled"]:
                return self.error(405, "DENIED", "tag %s is locked (writeEnabled=false)" % ref)
            d = st.put_manifest(repo, raw, ctype)
            if not ref.startswith("sha256:"):
                st.tag(repo, ref, d, time.time())
            return self.send(201, b"", headers={"Docker-Content-Digest": d,
                                                 "Location": "/v2/%s/manifests/%s" % (repo, d)})
        if ref.startswith("sha256:"):
            d = ref
        else:
            t = r["tags"].get(ref)
            d = t and t["digest"]
        mf = d and r["manifests"].get(d)
        if self.command == "DELETE":
            if not ref.startswith("sha256:"):
                return self.error(400, "DIGEST_INVALID", "fixture: delete tags via /acr/v1")
            if not mf:
                return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            if not mf["attrs"]["deleteEnabled"]:
                return self.error(405, "DENIED", "manifest %s is locked" % d)
            del r["manifests"][d]
            for name in [n for n, t in r["tags"].items() if t["digest"] == d]:
                del r["tags"][name]
            return self.send(202)
        if not mf:
            return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        return self.send(200, mf["raw"], mf["mediaType"], {"Docker-Content-Digest": d})

    # ---- dispatch --------------------------------------------------------------
    def fixture(self, path):
        st = self.store
        if path == "/_fixture/seed" and self.command == "POST":
            try:
                n = st.seed(json.loads(self.read_body()))
            except (ValueError, KeyError, TypeError) as e:
                return self.error(400, "BAD_SEED", str(e))
            return self.send(200, {"seeded": n})
        if path == "/_fixture/stats":
            with st.lock:
                return self.send(200, json.loads(json.dumps(st.stats)))
        if path == "/_fixture/reset-stats" and self.command == "POST":
            st.reset_stats()
            return self.send(200, {"ok": True})
        if path == "/_fixture/log":
            return self.send(200, list(st.log))
        m = re.match(r"^/_fixture/repo/(.+)$", path)
        if m:
            with st.lock:
                r = st.repo(m.group(1))
                if not r:
                    return self.error(404, "NAME_UNKNOWN", "no such repo")
                return self.send(200, {
                    "tags": {k: tag_json(t) for k, t in r["tags"].items()},
                    "manifests": {d: manifest_json(d, mf, []) for d, mf in r["manifests"].items()}})
        return self.error(404, "NOT_FOUND", "unknown fixture path")

    def dispatch(self):
        self.auth_kind = (self.headers.get("Authorization") or "").partition(" ")[0] or None
        self.store.bump("requests")
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        try:
            if path.startswith("/_fixture/"):
                return self.fixture(path)
            if path.startswith("/oauth2/"):
                return self.oauth(path, query)
            if path.startswith("/acr/v1/"):
                return self.acr(path, query)
            if path == "/v2" or path.startswith("/v2/"):
                return self.v2(path, query)
            return self.error(404, "NOT_FOUND", "no such path")
        except ValueError as e:
            self.close_connection = True
            return self.error(400, "BAD_REQUEST", str(e))

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = dispatch




def main():
    ap = argparse.ArgumentParser(description="ACR metadata API fixture (not ACR)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--watch", type=int)
    ap.add_argument("--refresh-token", default="regsh-fixture-refresh-token")
    ap.add_argument("--aad-token", default="regsh-fixture-aad-token")
    ap.add_argument("--user", default="", help="admin user name:password for Basic on /oauth2/token")
    ap.add_argument("--ttl", type=int, default=3600)
    ap.add_argument("--seed", action="append", default=[], help="repo=count")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.args = args
    server.store = Store(args)
    for s in args.seed:
        repo, _, count = s.partition("=")
        server.store.seed({"repo": repo, "count": int(count or 10)})
    serve(server, args.watch)


if __name__ == "__main__":
    main()
