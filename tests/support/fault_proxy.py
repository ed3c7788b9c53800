#!/usr/bin/env python3
"""tests/support/fault_proxy.py: a TEST reverse proxy that injects faults in
front of a real registry on 127.0.0.1, for regsh's specs (loopback only).

Every request is forwarded to --upstream (HTTP/1.1 keep-alive on both sides,
bodies streamed, headers passed through: Host, Location, Link,
Docker-Content-Digest, WWW-Authenticate...), unless a fault rule matches it.

Control API, on the same port under /_fault/ (a registry never uses that path):
  POST   /_fault/rules   JSON rule or list of rules -> {"ids": [...]}
  GET    /_fault/rules   the rules with their remaining counts
  DELETE /_fault/rules   remove every rule
  GET    /_fault/log     [{"n", "t", "method", "path", "action", "status", "rule",
                           "inflight", "user", "auth", "accept", "user_agent"}...]
                         (t = unix time the request arrived;
                         inflight = requests received and not yet answered when
                         it arrived, itself included: never more than the
                         client had in flight; user: the Basic user name,
                         "<bearer>", or null; auth = the scheme of the
                         Authorization header sent ("Basic", "Bearer"), never
                         the credential; accept, user_agent = those headers;
                         "" for a header not sent;
                         bounded to 20,000)
  DELETE /_fault/log     clear the log
A rule: {"match": "regex searched in path?query" (default ".*"),
         "method": "GET" (optional), "skip": K (let K matches through first),
         "times": N (default 1, -1 = forever), "action": one of
  "status"   answer {"status": 503, "headers": {...}, "body": "..." or
             "body_base64": "...", "content_type": "..."} (default body: a
             registry-style JSON error; {"body_file": PATH} answers that
             file's bytes, e.g. a manifest no real registry would store);
             e.g. 429 + Retry-After
  "reset"    close the connection with a TCP RST, answering nothing
  "close"    close the connection with a FIN, answering nothing
  "delay"    wait {"seconds": S} then forward normally
  "stall"    wait {"seconds": S} then close without answering
  "garbage"  200 text/html with an HTML page (or {"body": ..., "content_type": ...})
  "redirect" answer {"status": 307} with Location: {"location": URL}
  "truncate" forward, but send only half of the body, then reset
  "lost"     forward (the registry does the work), then reset without
             answering: a write done whose answer never arrived
  "hold"     forward, but send half of the body, log a "held" entry, wait
             {"seconds": S} (default 30), then send the rest (a client can be
             interrupted mid-body at a known point)
  "throttle" forward, sending the body {"chunk": bytes} (default 16384) at a
             time with {"interval": S} (default 0.25) seconds between: a slow
             but steady link
  "corrupt"  forward, flipping one byte of the body (same length); with
             {"drop_headers": ["Docker-Content-Digest"]} those headers go too
  "link"     forward, rewriting the Link header to {"form": "absolute"|"relative"}}
In the body, the headers and the location of "status" and "redirect" rules,
{secret} becomes the credential the request carried (the password of Basic
credentials, the token of a Bearer one; "" without): a registry echoing it.
Rules are tried in order; the first one that matches and has uses left applies.
A rule with "per_path": K hits one path?query at most K times (so one request's
retries cannot eat every fault). The same rules can be given at start with
--rules FILE (a JSON list).

Tag-list pagination emulation (distribution 2.8 ignores n/last on
/v2/<name>/tags/list and answers every tag at once; distribution 3, ACR,
Harbor... paginate): with --paginate-tags FORM, or
  POST   /_fault/paginate  {"form": "relative"|"absolute", "max": M (cap on n)}
  DELETE /_fault/paginate
a forwarded GET /v2/<name>/tags/list?n=N&last=L gets the full list from the
registry, sorts it, and answers the N tags after L with a Link header of that
form (`</v2/<name>/tags/list?last=..&n=N>; rel="next"`) when more remain.
Fault rules apply first; pagination applies to whatever is forwarded.

Usage: fault_proxy.py --upstream http://127.0.0.1:PORT [--port 0] [--watch PID]
Prints `port=PORT pid=PID` on stdout when ready; exits when --watch PID dies.
Python 3 standard library only.
"""
import argparse
import base64
import binascii
import http.client
import json
import re
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from lifetime import serve

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
              "te", "trailer", "trailers", "transfer-encoding", "upgrade", "expect",
              "proxy-connection"}
MAX_LOG = 20000
MAX_CONNECTIONS = 256
BUF = 65536


class Rules:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.next_id = 1
        self.log = []
        self.seq = 0
        self.paginate = None  # {"form": ..., "max": ...} or None
        self.inflight = 0     # proxied requests received and not yet answered

    def add(self, spec):
        specs = spec if isinstance(spec, list) else [spec]
        ids = []
        with self.lock:
            for s in specs:
                if not isinstance(s, dict) or "action" not in s:
                    raise ValueError("a rule is an object with an action")
                r = dict(s)
                r["id"] = self.next_id
                self.next_id += 1
                r.setdefault("times", 1)
                r.setdefault("skip", 0)
                r["_re"] = re.compile(r.get("match", ".*"))
                r["hits"] = 0
                r["_per"] = {}
                self.rules.append(r)
                ids.append(r["id"])
        return ids

    def clear(self):
        with self.lock:
            self.rules = []

    def public(self):
        with self.lock:
            return [{k: v for k, v in r.items() if not k.startswith("_")} for r in self.rules]

    def pick(self, method, target):
        with self.lock:
            for r in self.rules:
                if r.get("method") and r["method"].upper() != method:
                    continue
                if not r["_re"].search(target):
                    continue
                if r["skip"] > 0:
                    r["skip"] -= 1
                    continue
                if r["times"] == 0:
                    continue
                if r.get("per_path") is not None:
                    if r["_per"].get(target, 0) >= r["per_path"]:
                        continue
                    r["_per"][target] = r["_per"].get(target, 0) + 1
                if r["times"] > 0:
                    r["times"] -= 1
                r["hits"] += 1
                return dict(r)
        return None

    def record(self, entry):
        with self.lock:
            self.seq += 1
            entry["n"] = self.seq
            self.log.append(entry)
            if len(self.log) > MAX_LOG:
                del self.log[: len(self.log) - MAX_LOG]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "regsh-fault-proxy/1"
    upstream = None  # http.client.HTTPConnection, one per client connection

    def log_message(self, fmt, *args):
        if self.server.args.verbose:
            sys.stderr.write("fault_proxy: " + (fmt % args) + "\n")

    # ---- helpers -------------------------------------------------------
    def send_simple(self, status, body, content_type="application/json", headers=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body_chunks(self):
        """Yield the request body (Content-Length or chunked), in pieces."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    data = self.rfile.read(min(left, BUF))
                    if not data:
                        raise ConnectionError("client body ended early")
                    left -= len(data)
                    yield data
                self.rfile.readline(16)
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                data = self.rfile.read(min(left, BUF))
                if not data:
                    raise ConnectionError("client body ended early")
                left -= len(data)
                yield data

    def drain(self):
        for _ in self.body_chunks():
            pass

    def hard_close(self, rst):
        """End the connection without (more of) an answer: RST or FIN."""
        self.close_connection = True
        try:
            if rst:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.rfile.close()  # drop the makefile reference so close() is real
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def record(self, action, status, rule=None):
        self.server.rules.record({
            "t": self.t0, "method": self.command, "path": self.path,
            "action": action, "status": status, "rule": rule,
            "inflight": getattr(self, "inflight_at", None), "user": self.auth_user(),
            "auth": (self.headers.get("Authorization") or "").partition(" ")[0],
            "accept": self.headers.get("Accept") or "",
            "user_agent": self.headers.get("User-Agent") or "",
        })

    # ---- in-flight count: from arrival to the first byte of the answer ----
    def arrived(self):
        rules = self.server.rules
        with rules.lock:
            rules.inflight += 1
            self.inflight_at = rules.inflight
        self.pending = True

    def answered(self):
        if getattr(self, "pending", False):
            self.pending = False
            rules = self.server.rules
            with rules.lock:
                rules.inflight -= 1

    def send_response_only(self, code, message=None):
        self.answered()  # the client may send its next request once this is out
        super().send_response_only(code, message)

    def secret(self):
        """The credential this request carried: a Basic password or a Bearer token."""
        value = self.headers.get("Authorization") or ""
        scheme, _, cred = value.partition(" ")
        if scheme.lower() == "bearer":
            return cred.strip()
        if scheme.lower() == "basic":
            try:
                return base64.b64decode(cred.strip()).decode().partition(":")[2]
            except (binascii.Error, UnicodeDecodeError):
                return ""
        return ""

    def echo(self, text):
        """A rule's text with {secret} replaced: a registry echoing the credential."""
        if not isinstance(text, str):
            return text
        return text.replace("{secret}", self.secret())

    def echo_headers(self, headers):
        return {k: self.echo(str(v)) for k, v in (headers or {}).items()}

    def auth_user(self):
        """Who the request authenticated as (never the secret): the user name
        of a Basic header, "<bearer>" for a token, None for no credentials."""
        value = self.headers.get("Authorization") or ""
        scheme, _, credential = value.partition(" ")
        if scheme.lower() == "bearer":
            return "<bearer>"
        if scheme.lower() == "basic":
            try:
                return base64.b64decode(credential).decode("utf-8", "replace").split(":", 1)[0]
            except ValueError:
                return "<malformed>"
        return None

    # ---- control API ---------------------------------------------------
    def control(self):
        rules = self.server.rules
        body = b"".join(self.body_chunks())
        path = urlsplit(self.path).path
        if path == "/_fault/rules":
            if self.command == "POST":
                try:
                    ids = rules.add(json.loads(body or b"null"))
                except (ValueError, re.error) as e:
                    return self.send_simple(400, json.dumps({"error": str(e)}))
                return self.send_simple(200, json.dumps({"ids": ids}))
            if self.command == "DELETE":
                rules.clear()
                return self.send_simple(200, b'{"ok":true}')
            return self.send_simple(200, json.dumps(rules.public()))
        if path == "/_fault/paginate":
            if self.command == "POST":
                try:
                    spec = json.loads(body or b"{}")
                    if spec.get("form", "relative") not in ("relative", "absolute"):
                        raise ValueError("form is relative or absolute")
                except (ValueError, AttributeError) as e:
                    return self.send_simple(400, json.dumps({"error": str(e)}))
                rules.paginate = spec
            elif self.command == "DELETE":
                rules.paginate = None
            return self.send_simple(200, json.dumps({"paginate": rules.paginate}))
        if path == "/_fault/log":
            if self.command == "DELETE":
                with rules.lock:
                    rules.log = []
                return self.send_simple(200, b'{"ok":true}')
            with rules.lock:
                return self.send_simple(200, json.dumps(rules.log))
        return self.send_simple(404, b'{"error":"unknown control path"}')

    # ---- proxying ------------------------------------------------------
    def connect_upstream(self):
        u = self.server.upstream
        if self.upstream is None:
            self.upstream = http.client.HTTPConnection(u.hostname, u.port,
                                                       timeout=self.server.args.upstream_timeout)
        return self.upstream

    def forward(self, rule=None):
        action = rule["action"] if rule else "forward"
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
        has_body = ("Content-Length" in self.headers
                    or "chunked" in (self.headers.get("Transfer-Encoding") or "").lower())
        chunks = self.body_chunks() if has_body else iter(())
        body = None
        if has_body and "Content-Length" not in self.headers:
            body = b"".join(chunks)  # chunked upload: buffer, send with a length
            headers.append(("Content-Length", str(len(body))))
        for attempt in (1, 2):
            conn = self.connect_upstream()
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for k, v in headers:
                    conn.putheader(k, v)
                conn.endheaders()
                if body is not None:
                    conn.send(body)
                else:
                    for data in chunks:
                        conn.send(data)
                resp = conn.getresponse()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                self.upstream = None
                # a stale keep-alive connection: retry once when nothing was streamed
                if attempt == 2 or (has_body and body is None):
                    raise
        if action == "lost":
            resp.read()
            self.record(action, resp.status, rule["id"])
            return self.hard_close(True)
        status = resp.status
        out_headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
        length = resp.getheader("Content-Length")
        no_body = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        if rule and rule.get("drop_headers"):
            drop = {h.lower() for h in rule["drop_headers"]}
            out_headers = [(k, v) for k, v in out_headers if k.lower() not in drop]
        if rule and action == "link":
            out_headers = [(k, self.rewrite_link(v, rule.get("form", "absolute")))
                           if k.lower() == "link" else (k, v) for k, v in out_headers]
        data = None
        if not no_body and action in ("corrupt", "truncate", "hold", "throttle"):
            data = resp.read()
            if action == "corrupt" and data:
                i = len(data) // 2
                data = data[:i] + bytes([data[i] ^ 0x20]) + data[i + 1:]
            out_headers = [(k, v) for k, v in out_headers if k.lower() != "content-length"]
            out_headers.append(("Content-Length", str(len(data))))
            length = str(len(data))
        self.log_request(status)
        self.send_response_only(status)  # upstream's own Date/Server pass through
        for k, v in out_headers:
            self.send_header(k, v)
        chunked_out = not no_body and length is None
        if chunked_out:
            self.send_header("Transfer-Encoding", "chunked")
        if resp.will_close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.record(action, status, rule and rule["id"])
        if no_body:
            resp.read()
        elif data is not None:
            if action == "hold":
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.record("held", status, rule["id"])
                time.sleep(float(rule.get("seconds", 30)))
                data = data[len(data) // 2:]
            if action == "throttle":
                size = int(rule.get("chunk", 16384))
                for i in range(0, len(data), size):
                    if i:
                        time.sleep(float(rule.get("interval", 0.25)))
                    self.wfile.write(data[i:i + size])
                    self.wfile.flush()
                data = b""
            if action == "truncate":
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                resp.close()
                self.upstream = None
                return self.hard_close(True)
            self.wfile.write(data)
        else:
            while True:
                piece = resp.read(BUF)
                if not piece:
                    break
                if chunked_out:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                else:
                    self.wfile.write(piece)
            if chunked_out:
                self.wfile.write(b"0\r\n\r\n")
        resp.close()  # fully read: frees the upstream connection for the next request
        if resp.will_close:
            conn.close()
            self.upstream = None

    def rewrite_link(self, value, form):
        host = self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_address[1]

        def one(m):
            url = m.group(1)
            u = urlsplit(url)
            if form == "relative":
                return "<" + (u.path + ("?" + u.query if u.query else "")) + ">"
            if u.scheme:
                return m.group(0)
            return "<http://" + host + url + ">"
        return re.sub(r"<([^>]*)>", one, value)

    TAGS_LIST = re.compile(r"^(/v2/.+/tags/list)(?:\?(.*))?$")

    def paginated_tags(self, rule=None):
        """Emulate n/last pagination of a tag list over the registry's full list."""
        spec = self.server.rules.paginate
        m = self.TAGS_LIST.match(self.path)
        path, query = m.group(1), parse_qs(m.group(2) or "")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        conn = self.connect_upstream()
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (http.client.HTTPException, OSError):
            conn.close()
            self.upstream = None
            conn = self.connect_upstream()
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        if resp.will_close:
            conn.close()
            self.upstream = None
        action = "paginate" if not rule else rule["action"]
        if resp.status != 200:
            self.record(action, resp.status, rule and rule["id"])
            return self.send_simple(resp.status, raw, resp.getheader("Content-Type") or
                                    "application/json", {k: v for k, v in resp.getheaders()
                                                         if k.lower() == "www-authenticate"})
        doc = json.loads(raw)
        tags = sorted(doc.get("tags") or [])
        last = (query.get("last") or [None])[0]
        if last is not None:
            tags = [t for t in tags if t > last]
        n = query.get("n")
        n = int(n[0]) if n else None
        if spec.get("max") and (n is None or n > spec["max"]):
            n = int(spec["max"])
        page = tags if n is None else tags[:n]
        headers = {}
        if n is not None and len(tags) > n and page:
            link = "%s?%s" % (path, urlencode([("last", page[-1]), ("n", n)]))
            if spec.get("form") == "absolute":
                host = self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_address[1]
                link = "http://" + host + link
            headers["Link"] = '<%s>; rel="next"' % link
        body = json.dumps({"name": doc.get("name"), "tags": page}).encode()
        self.record(action, 200, rule and rule["id"])
        return self.send_simple(200, body, "application/json; charset=utf-8", headers)

    def forward_or_paginate(self, rule=None):
        if (self.server.rules.paginate is not None and self.command == "GET"
                and self.TAGS_LIST.match(self.path)):
            self.drain()
            return self.paginated_tags(rule)
        return self.forward(rule)

    def handle_request(self):
        self.t0 = time.time()
        if self.path.startswith("/_fault/"):
            return self.control()
        self.arrived()
        rule = self.server.rules.pick(self.command, self.path)
        if not rule:
            return self.forward_or_paginate()
        action = rule["action"]
        rid = rule["id"]
        if action == "reset":
            self.record(action, None, rid)
            return self.hard_close(True)
        if action == "close":
            self.drain()
            self.record(action, None, rid)
            return self.hard_close(False)
        if action == "stall":
            self.drain()
            self.record(action, None, rid)
            time.sleep(float(rule.get("seconds", 30)))
            return self.hard_close(False)
        if action == "delay":
            time.sleep(float(rule.get("seconds", 1)))
            return self.forward_or_paginate(rule)
        if action == "status":
            self.drain()
            status = int(rule.get("status", 503))
            body = rule.get("body")
            if rule.get("body_file"):
                with open(rule["body_file"], "rb") as f:
                    body = f.read()
            if "body_base64" in rule:  # bytes JSON cannot carry (invalid UTF-8)
                body = base64.b64decode(rule["body_base64"])
            if body is None:
                body = json.dumps({"errors": [{"code": "UNAVAILABLE" if status != 429
                                               else "TOOMANYREQUESTS",
                                               "message": "fault injected by fault_proxy"}]})
            self.record(action, status, rid)
            return self.send_simple(status, self.echo(body),
                                    rule.get("content_type", "application/json"),
                                    self.echo_headers(rule.get("headers")))
        if action == "redirect":
            self.drain()
            status = int(rule.get("status", 307))
            headers = self.echo_headers(rule.get("headers"))
            headers["Location"] = self.echo(rule["location"])
            self.record(action, status, rid)
            return self.send_simple(status, b"", "text/plain", headers)
        if action == "garbage":
            self.drain()
            self.record(action, 200, rid)
            body = rule.get("body", "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
                            "<body><h1>Corporate proxy</h1><p>Please sign in.</p></body></html>\n")
            return self.send_simple(200, body, rule.get("content_type", "text/html; charset=utf-8"),
                                    rule.get("headers"))
        if action in ("truncate", "corrupt", "link", "hold", "throttle", "lost"):
            return self.forward(rule)
        self.drain()
        return self.send_simple(500, json.dumps({"error": "unknown fault action " + action}))

    def _dispatch(self):
        try:
            self.handle_request()
        except (BrokenPipeError, ConnectionResetError, ConnectionError, socket.timeout, OSError) as e:
            self.close_connection = True
            if self.server.args.verbose:
                sys.stderr.write("fault_proxy: %s %s: %r\n" % (self.command, self.path, e))
            if self.upstream is not None:
                self.upstream.close()
                self.upstream = None
        finally:
            self.answered()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        if self.upstream is not None:
            self.upstream.close()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, addr, handler, args):
        super().__init__(addr, handler)
        self.args = args
        self.rules = Rules()
        self.upstream = urlsplit(args.upstream)
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address):
        if self.args.verbose:
            super().handle_error(request, client_address)




def main():
    ap = argparse.ArgumentParser(description="fault-injecting test proxy for a registry")
    ap.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--rules", help="JSON file with a list of rules to start with")
    ap.add_argument("--watch", type=int, help="exit when this pid dies")
    ap.add_argument("--upstream-timeout", type=float, default=60)
    ap.add_argument("--paginate-tags", choices=["relative", "absolute"],
                    help="emulate n/last pagination of tag lists with Link headers of this form")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    u = urlsplit(args.upstream)
    if u.scheme != "http" or u.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("fault_proxy: --upstream must be http:// on loopback")
    server = Server(("127.0.0.1", args.port), Handler, args)
    if args.paginate_tags:
        server.rules.paginate = {"form": args.paginate_tags}
    if args.rules:
        with open(args.rules, encoding="utf-8") as f:
            server.rules.add(json.load(f))
    serve(server, args.watch)


if __name__ == "__main__":
    main()
