"""Waiting for Apache (or gdb running it) with the terminal's signals
passed on: start-server on a terminal, and --enable-gdb."""

import signal

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)


def wait_forwarding(child, forward):
    """Waits for child (a Popen) to exit and returns its status; each
    FORWARDED signal meanwhile goes to forward(signum, frame). SIGWINCH is
    ignored: Apache takes it as graceful-stop, and resizing the terminal
    must not stop the server."""
    for sig in FORWARDED:
        signal.signal(sig, forward)
    signal.signal(signal.SIGWINCH, signal.SIG_IGN)
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            forward(signal.SIGINT, None)
