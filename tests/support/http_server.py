#!/usr/bin/env python3
"""tests/support/http_server.py: a TEST HTTP/1.1 server on 127.0.0.1 for
http_spec.lua, serving what a registry never does (loopback only):

  GET  /repeat          200, the header X-Repeat three times (one, two, three)
  GET  /redirect/N      302 to /redirect/N-1 (with X-Hop: N); /redirect/0 is
                        200 "landed" with X-Final: yes
  GET  /slow?s=S        200 "slow" after S seconds (keep-alive)
  GET  /hang            accepts and never answers (until the client leaves)
  GET  /close           closes the connection without answering
  ANY  /echo            200 JSON {"method", "body", "headers": [[name, value]...]}
  GET  /folded          200 with an obsolete folded (multi-line) header value
  GET  /chunked?n=N     200 with N bytes of "x" in 64 KiB chunks, no Content-Length
  GET  /trickle?n=N&every=S
                        200 with N chunks of 1 KiB of "t", S seconds apart (a
                        slow but steady body), no Content-Length
  GET  /bigheader?lines=L&size=S
                        200 with L headers X-Big-<i> of S bytes each
  GET  /files/NAME      200 with the file NAME of --root (404 without it)
  GET  /fail-twice/NAME 503 the first two times for each NAME, then as /files/NAME
  GET  /hits            200 JSON {path: number of requests} of the paths above
  GET  /ahead?n=N       200 with 32 KiB of "a" and, in the same write, the
                        answer to the next request on the connection before
                        it is sent: 200 with N bytes of "b" (that request is
                        read, not answered again)

Usage: http_server.py [--port 0] [--watch PID] [--root DIR]
Prints `port=PORT pid=PID` on stdout when ready; exits when --watch PID dies.
Python 3 standard library only.
"""
import argparse
import collections
import http.server
import json
import os
import threading
import time
import urllib.parse

from lifetime import serve


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as registries do
    root = None
    hits = collections.Counter()
    hits_lock = threading.Lock()

    def serve_file(self, name):
        path = os.path.join(self.root or "/nonexistent", os.path.basename(name))
        try:
            with open(path, "rb") as f:
                self.reply(200, f.read(), [("Content-Type", "application/octet-stream")])
        except OSError:
            self.reply(404, b"no such file")

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if getattr(self, "answered_ahead", False):
            self.answered_ahead = False  # /ahead answered this one already
        elif url.path == "/ahead":
            # one write, so both are in the client's socket together; the
            # first body is more than curl's first read (16 KiB), so curl reads
            # that answer to its end and leaves the next one in the socket
            n = int(query.get("n", ["0"])[0])
            first = b"a" * 32768
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                             b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(first), first, n, b"b" * n))
            self.answered_ahead = True
        elif url.path.startswith(("/files/", "/fail-twice/")):
            with self.hits_lock:
                self.hits[url.path] += 1
                n = self.hits[url.path]
            if url.path.startswith("/fail-twice/") and n <= 2:
                self.reply(503, b"try again")
            else:
                self.serve_file(url.path.rsplit("/", 1)[1])
        elif url.path == "/hits":
            with self.hits_lock:
                body = json.dumps(dict(self.hits)).encode()
            self.reply(200, body, [("Content-Type", "application/json")])
        elif url.path == "/repeat":
            self.reply(200, b"ok", [("X-Repeat", "one"), ("X-Repeat", "two"),
                                    ("x-repeat", "three")])
        elif url.path.startswith("/redirect/"):
            n = int(url.path.rsplit("/", 1)[1])
            if n <= 0:
                self.reply(200, b"landed", [("X-Final", "yes")])
            else:
                self.reply(302, b"moved", [("Location", "/redirect/%d" % (n - 1)),
                                           ("X-Hop", str(n))])
        elif url.path == "/slow":
            time.sleep(float(query.get("s", ["0.1"])[0]))
            self.reply(200, b"slow")
        elif url.path == "/hang":
            # read until the client goes away; never answer
            self.connection.settimeout(60)
            try:
                while self.connection.recv(4096):
                    pass
            except OSError:
                pass
            self.close_connection = True
        elif url.path == "/close":
            self.close_connection = True
        elif url.path == "/echo":
            out = {"method": self.command, "body": body.decode("latin-1"),
                   "headers": [[k, v] for k, v in self.headers.items()]}
            self.reply(200, json.dumps(out).encode(),
                       [("Content-Type", "application/json")])
        elif url.path == "/folded":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Folded: first\r\n  second\r\n"
                             b"\tthird\r\nContent-Length: 2\r\n\r\nok")
        elif url.path == "/chunked":
            left = int(query.get("n", ["0"])[0])
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                while left > 0:
                    size = min(left, 65536)
                    self.wfile.write(b"%x\r\n%s\r\n" % (size, b"x" * size))
                    left -= size
                self.wfile.write(b"0\r\n\r\n")
            except OSError:  # the client stopped reading: fine
                self.close_connection = True
        elif url.path == "/trickle":
            n = int(query.get("n", ["1"])[0])
            every = float(query.get("every", ["0.1"])[0])
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for i in range(n):
                    if i:
                        time.sleep(every)
                    self.wfile.write(b"400\r\n%s\r\n" % (b"t" * 1024))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except OSError:  # the client gave up: fine
                self.close_connection = True
        elif url.path == "/bigheader":
            lines = int(query.get("lines", ["1"])[0])
            size = int(query.get("size", ["1024"])[0])
            try:
                self.reply(200, b"big", [("X-Big-%d" % i, "b" * size)
                                         for i in range(lines)])
            except OSError:  # the client gave up on the headers: fine
                self.close_connection = True
        else:
            self.reply(404, b"not found")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any




def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--watch", type=int)
    parser.add_argument("--root")
    args = parser.parse_args()
    Handler.root = args.root
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    serve(server, args.watch)


if __name__ == "__main__":
    main()
