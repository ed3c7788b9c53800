"""lifetime.py: what every Python test server in tests/support shares: it
tells its port on stdout, and dies with the test process that started it
(--watch PID), so an aborted spec leaves no server behind."""
import os
import threading
import time


def exit_with(pid):
    """Exit this process once process `pid` is gone (checked twice a second)."""
    if not pid:
        return

    def watch():
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass  # alive, just not ours to signal
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()


def serve(server, watch_pid):
    """Print `port=PORT pid=PID` (what tests/support/servers.lua waits for),
    then serve until the watched process is gone or the server is interrupted."""
    exit_with(watch_pid)
    print("port=%d pid=%d" % (server.server_address[1], os.getpid()), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
