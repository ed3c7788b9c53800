#!/usr/bin/env python3
"""tests/support/token_server.py: a TEST token service for docker-registry's
`auth.token` (distribution 2.8), for regsh's specs and benchmarks only.

It implements the Docker token protocol on 127.0.0.1 (loopback only):

  GET  /token?service=S&scope=repository:NAME:ACTIONS[&scope=...]
       with optional Basic credentials. Known user + right password -> a token
       granting the requested actions, limited to what that user may do; a wrong
       password or an unknown user -> 401 (never retried, never a token); no
       credentials -> a token for the anonymous grant (--anonymous, default none).
       Answers {"token", "access_token", "expires_in", "issued_at"}.
  POST /token  OAuth2 form (grant_type=password with username/password, or
       grant_type=refresh_token with a refresh token issued by offline_token=true)
  GET  /stats  {"tokens": issued, "denied": 401s, "requests": n, "scopes": {...},
       "users": {...}} so a test can assert token caching.
  POST /stats/reset  zero the counters.

The JWT is RS256-signed with --key (PKCS#1 v1.5 over SHA-256 computed with
Python's pow() on the key numbers that `openssl rsa -text` prints) and carries
`x5c` (the --cert DER, which must be in the registry's rootcertbundle) and `kid`
(libtrust fingerprint of the key), the two forms distribution 2.8 accepts.
Claims: iss, sub, aud (= service), exp, nbf, iat, jti, access.

Usage:
  token_server.py --key token.key --cert token.pem --issuer regsh-test \
      [--user alice:secret[:pull,push,delete]] [--users FILE] [--anonymous pull]
      [--ttl 300] [--port 0] [--watch PID] [--service S]
Users file: one `name:password[:actions]` per line; actions default to `*`
(everything requested). Prints `port=PORT pid=PID` on stdout when ready and
exits when the --watch process dies. Python 3 standard library only.
"""
import argparse
import base64
import hashlib
import json
import re
import secrets
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from lifetime import serve

SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def read_rsa_key(path):
    """(n, d) from an RSA private key, via `openssl rsa -text` (no pip)."""
    out = subprocess.run(["openssl", "rsa", "-in", path, "-noout", "-text"],
                         check=True, capture_output=True, text=True).stdout
    fields, name = {}, None
    for line in out.splitlines():
        m = re.match(r"^(\w+):\s*$", line)
        if m:
            name = m.group(1)
            fields[name] = ""
        elif name and re.match(r"^\s+[0-9a-f:]+$", line):
            fields[name] += line.strip()
        else:
            name = None
    n = int(fields["modulus"].replace(":", ""), 16)
    d = int(fields["privateExponent"].replace(":", ""), 16)
    return n, d


def cert_der(path):
    return subprocess.run(["openssl", "x509", "-in", path, "-outform", "DER"],
                          check=True, capture_output=True).stdout


def libtrust_kid(cert_path):
    """libtrust key ID: base32(sha256(DER SubjectPublicKeyInfo)[:30]) in 4-char groups."""
    pub = subprocess.run(["openssl", "x509", "-in", cert_path, "-noout", "-pubkey"],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         check=True, capture_output=True).stdout
    s = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii").rstrip("=")
    return ":".join(s[i:i + 4] for i in range(0, len(s), 4))


class Signer:
    def __init__(self, key_path, cert_path):
        self.n, self.d = read_rsa_key(key_path)
        self.k = (self.n.bit_length() + 7) // 8
        self.x5c = [base64.b64encode(cert_der(cert_path)).decode("ascii")]
        self.kid = libtrust_kid(cert_path)

    def sign(self, data):
        t = SHA256_DIGEST_INFO + hashlib.sha256(data).digest()
        em = b"\x00\x01" + b"\xff" * (self.k - len(t) - 3) + b"\x00" + t
        s = pow(int.from_bytes(em, "big"), self.d, self.n)
        return s.to_bytes(self.k, "big")

    def jwt(self, claims):
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid, "x5c": self.x5c}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode())
                         + "." + b64url(json.dumps(claims, separators=(",", ":")).encode()))
        return signing_input + "." + b64url(self.sign(signing_input.encode("ascii")))


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.users = {}  # name -> (password, set of actions or None for all)
        self.refresh_tokens = {}
        for spec in args.user or []:
            self.add_user(spec)
        if args.users:
            with open(args.users, encoding="utf-8") as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        self.add_user(line)
        self.anonymous = set(a for a in (args.anonymous or "").split(",") if a)
        self.signer = Signer(args.key, args.cert)
        self.reset()

    def add_user(self, spec):
        parts = spec.split(":", 2)
        if len(parts) < 2:
            raise SystemExit("token_server: bad user spec (want name:password[:actions])")
        actions = None
        if len(parts) == 3 and parts[2] not in ("", "*"):
            actions = set(parts[2].split(","))
        self.users[parts[0]] = (parts[1], actions)

    def reset(self):
        with self.lock:
            self.stats = {"tokens": 0, "denied": 0, "requests": 0, "scopes": {}, "users": {}}

    def count(self, key, sub=None):
        with self.lock:
            if sub is None:
                self.stats[key] += 1
            else:
                self.stats[key][sub] = self.stats[key].get(sub, 0) + 1


def parse_scope(scope):
    # repository:name:pull,push  (name may contain ':' for a port: split from the right)
    typ, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if not typ or not name:
        return None
    return {"type": typ, "name": name, "actions": [a for a in actions.split(",") if a]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "regsh-test-token/1"

    def log_message(self, fmt, *args):
        if self.server.state.args.verbose:
            sys.stderr.write("token_server: " + (fmt % args) + "\n")

    def reply(self, status, obj, headers=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def credentials(self):
        """None (anonymous), or (name, password); raises ValueError on garbage."""
        auth = self.headers.get("Authorization")
        if not auth:
            return None
        kind, _, value = auth.partition(" ")
        if kind.lower() != "basic":
            raise ValueError("unsupported authorization")
        name, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        if not sep:
            raise ValueError("malformed basic credentials")
        return name, password

    def deny(self, why):
        st = self.server.state
        st.count("denied")
        self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": why}]},
                   {"WWW-Authenticate": 'Basic realm="regsh-test-token"'})

    def issue(self, user, allowed, service, scopes, offline=False):
        st = self.server.state
        now = int(time.time())
        ttl = st.args.ttl
        access = []
        for scope in scopes:
            s = parse_scope(scope)
            if not s:
                continue
            acts = [a for a in s["actions"] if allowed is None or a in allowed or "*" in allowed]
            if "*" in s["actions"] and allowed is not None:
                acts = sorted(allowed)
            access.append({"type": s["type"], "name": s["name"], "actions": acts})
            st.count("scopes", scope)
        claims = {
            "iss": st.args.issuer, "sub": user or "", "aud": service or st.args.service or "",
            "exp": now + ttl, "nbf": now - 5, "iat": now, "jti": secrets.token_hex(12),
            "access": access,
        }
        token = st.signer.jwt(claims)
        st.count("tokens")
        st.count("users", user or "<anonymous>")
        body = {"token": token, "access_token": token, "expires_in": ttl,
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}
        if offline and user:
            rt = secrets.token_hex(16)
            with st.lock:
                st.refresh_tokens[rt] = user
            body["refresh_token"] = rt
        self.reply(200, body)

    def allowed_for(self, creds):
        st = self.server.state
        if creds is None:
            return "", st.anonymous
        name, password = creds
        user = st.users.get(name)
        if not user or not secrets.compare_digest(user[0], password):
            return None, None
        return name, user[1]

    def do_GET(self):
        st = self.server.state
        st.count("requests")
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        if url.path == "/stats":
            with st.lock:
                return self.reply(200, json.loads(json.dumps(st.stats)))
        if url.path != "/token":
            return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
        try:
            creds = self.credentials()
        except (ValueError, UnicodeDecodeError):
            return self.deny("malformed credentials")
        user, allowed = self.allowed_for(creds)
        if user is None:
            return self.deny("invalid username or password")
        service = (q.get("service") or [""])[0]
        if st.args.service and service and service != st.args.service:
            return self.reply(400, {"errors": [{"code": "BAD_SERVICE", "message": service}]})
        scopes = []
        for s in q.get("scope", []):
            scopes.extend(s.split(" "))
        offline = (q.get("offline_token") or [""])[0] == "true"
        self.issue(user, allowed, service, scopes, offline)

    def do_POST(self):
        st = self.server.state
        st.count("requests")
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > 65536:
            return self.reply(413, {"errors": [{"code": "TOO_BIG"}]})
        raw = self.rfile.read(length) if length else b""
        if url.path == "/stats/reset":
            st.reset()
            return self.reply(200, {"ok": True})
        if url.path != "/token":
            return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
        form = parse_qs(raw.decode("utf-8", "replace"))
        grant = (form.get("grant_type") or [""])[0]
        scopes = []
        for s in form.get("scope", []):
            scopes.extend(s.split(" "))
        service = (form.get("service") or [""])[0]
        if grant == "password":
            creds = ((form.get("username") or [""])[0], (form.get("password") or [""])[0])
            user, allowed = self.allowed_for(creds)
            if user is None:
                return self.deny("invalid username or password")
        elif grant == "refresh_token":
            with st.lock:
                user = st.refresh_tokens.get((form.get("refresh_token") or [""])[0])
            if not user:
                return self.deny("invalid refresh token")
            allowed = st.users[user][1]
        else:
            return self.reply(400, {"error": "unsupported_grant_type"})
        self.issue(user, allowed, service, scopes)




def main():
    ap = argparse.ArgumentParser(description="test token service for docker-registry auth.token")
    ap.add_argument("--key", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--issuer", default="regsh-test-issuer")
    ap.add_argument("--service", default="", help="expected service (default: accept any)")
    ap.add_argument("--user", action="append", help="name:password[:actions]")
    ap.add_argument("--users", help="file of name:password[:actions] lines")
    ap.add_argument("--anonymous", default="", help="actions granted without credentials")
    ap.add_argument("--ttl", type=int, default=300, help="token lifetime, seconds")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--watch", type=int, help="exit when this pid dies")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    state = State(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = state
    serve(server, args.watch)


if __name__ == "__main__":
    main()
