#!/usr/bin/env python3
"""Drive a program on a pseudo-terminal, step by step.

usage: pty_session.py STEP... -- PROGRAM [ARGS...]
  expect:TEXT   wait until TEXT has appeared in the output since the last expect
  send:TEXT     type TEXT (\\n, \\x03 for Ctrl-C and \\x04 for Ctrl-D are unescaped)
  signal:NAME   send the signal NAME (TERM, INT) to the program
The whole output goes to stdout; the exit status is the program's (128+n for a
signal), or 124 when an expected text did not come within 10 seconds.
"""
import os
import pty
import select
import signal
import sys
import time

TIMEOUT = 10.0


def main():
    split = sys.argv.index("--")
    steps, argv = sys.argv[1:split], sys.argv[split + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    seen = b""
    out = sys.stdout.buffer

    def read_some(deadline):
        nonlocal seen
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return False
        try:
            data = os.read(fd, 4096)
        except OSError:
            return None  # the program is gone
        if not data:
            return None
        seen += data
        out.write(data)
        out.flush()
        return True

    for step in steps:
        kind, _, text = step.partition(":")
        if kind == "expect":
            want = text.encode()
            deadline = time.monotonic() + TIMEOUT
            while want not in seen:
                if not read_some(deadline):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    sys.stderr.write("pty_session: never saw %r\n" % text)
                    sys.exit(124)
            seen = seen[seen.index(want) + len(want):]
        elif kind == "send":
            os.write(fd, text.encode().decode("unicode_escape").encode())
        elif kind == "signal":
            os.kill(pid, getattr(signal, "SIG" + text))
    deadline = time.monotonic() + TIMEOUT
    while read_some(deadline):
        pass
    done, status = os.waitpid(pid, os.WNOHANG)
    while done == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # the terminal closes a moment before the exit
        done, status = os.waitpid(pid, os.WNOHANG)
    if done == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        sys.stderr.write("pty_session: the program did not end\n")
        sys.exit(124)
    if os.WIFSIGNALED(status):
        sys.exit(128 + os.WTERMSIG(status))
    sys.exit(os.WEXITSTATUS(status))


main()
