#!/usr/bin/env python3
"""Run a command on a pseudo-terminal, type answers to its prompts, and
interrupt it at one: prints what the terminal looked like as JSON.

usage: pty_prompt.py PROMPT=ANSWER ... PROMPT=^C -- COMMAND...
An answer of ^C sends SIGINT to the command when PROMPT shows."""
import json, os, pty, select, signal, subprocess, sys, termios, time

def wait_until_blocked(pid, deadline):
    """Until the process sleeps (waiting for input), so the signal finds it there."""
    while time.monotonic() < deadline:
        with open("/proc/%d/stat" % pid) as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "S":
                return
        time.sleep(0.01)

def main():
    sep = sys.argv.index("--")
    script = [a.split("=", 1) for a in sys.argv[1:sep]]
    command = sys.argv[sep + 1:]
    master, slave = pty.openpty()
    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)
    output, echo_at, step = b"", {}, 0
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                output += os.read(master, 4096)
            except OSError:
                break
        if step < len(script) and script[step][0].encode() in output:
            prompt, answer = script[step]
            echo_at[prompt] = bool(termios.tcgetattr(slave)[3] & termios.ECHO)
            if answer == "^C":
                wait_until_blocked(proc.pid, deadline)
                proc.send_signal(signal.SIGINT)
            else:
                os.write(master, answer.encode() + b"\n")
            step += 1
    if proc.poll() is None:
        proc.kill()
    status = proc.wait()
    while select.select([master], [], [], 0.05)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    print(json.dumps({
        "status": status,
        "echo_at": echo_at,
        "echo_after": bool(termios.tcgetattr(slave)[3] & termios.ECHO),
        "output": output.decode("utf-8", "replace"),
    }))

main()
