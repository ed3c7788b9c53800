"""lifetime.py: what every Python test server in tests/support shares: it
dies with the test process that started it (--watch PID), so an aborted spec
leaves no server behind."""
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
