#!/usr/bin/env python3
"""tests/support/listing_server.py: a TEST registry stand-in on 127.0.0.1 that
answers tag lists no real registry would, for the listing bounds of
registry_listing_spec.lua (loopback only):

  GET /v2/                          200 {}
  GET /v2/endless/tags/list?last=K  one tag "tK" and a Link to last=K+1: a
                                    fresh next page each time (up to K = 500,
                                    so a client without bounds still ends)
  GET /v2/big/tags/list             --tags N tags (default 100,000) of about
                                    120 bytes each, in one page
  GET /_stats                       {"pages": tag-list pages answered}

Usage: listing_server.py [--port 0] [--tags N] [--watch PID]
Prints `port=PORT pid=PID` on stdout when ready; exits when --watch PID dies.
Python 3 standard library only.
"""
import argparse
import http.server
import json
import threading
import urllib.parse

from lifetime import serve

STATE = {"pages": 0, "big": b""}
ENDLESS = 500
LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/v2/":
            return self.reply(200, b"{}")
        if url.path == "/_stats":
            with LOCK:
                return self.reply(200, json.dumps({"pages": STATE["pages"]}).encode())
        if url.path.endswith("/tags/list"):
            with LOCK:
                STATE["pages"] += 1
        if url.path == "/v2/endless/tags/list":
            k = int(query.get("last", ["0"])[0])
            body = json.dumps({"name": "endless", "tags": ["t%d" % k]}).encode()
            link = '</v2/endless/tags/list?last=%d&n=1>; rel="next"' % (k + 1)
            return self.reply(200, body, [("Link", link)] if k < ENDLESS else [])
        if url.path == "/v2/big/tags/list":
            return self.reply(200, STATE["big"])
        self.reply(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"unknown"}]}')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tags", type=int, default=100000)
    parser.add_argument("--watch", type=int)
    args = parser.parse_args()
    pad = "x" * 110
    tags = ["v%06d-%s" % (i, pad) for i in range(args.tags)]
    STATE["big"] = json.dumps({"name": "big", "tags": tags}).encode()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    serve(server, args.watch)


if __name__ == "__main__":
    main()
