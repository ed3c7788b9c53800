#!/usr/bin/env python3
"""tests/support/full_backlog.py: a TEST listener on 127.0.0.1 whose accept
queue is full and never drained, so a further connect is never completed
(the kernel drops its SYNs): for connect_timeout in http_spec.lua.

Usage: full_backlog.py [--watch PID]
Prints `port=PORT pid=PID` on stdout when ready; exits when --watch PID dies.
Python 3 standard library only.
"""
import argparse
import os
import socket
import time

from lifetime import exit_with


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--watch", type=int)
    args = ap.parse_args()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):  # more than the queue holds: the rest wait in SYN_SENT
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.2)  # let the handshakes that can complete do so
    exit_with(args.watch)
    print("port=%d pid=%d" % (port, os.getpid()), flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
