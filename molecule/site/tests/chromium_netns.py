#!/usr/bin/env python3
"""Chromium in a network namespace of its own, for the site's browser tests.

Chromium drops its requests (loopback ones too) with ERR_NETWORK_CHANGED
whenever an interface of its network namespace appears or goes, and the
scenarios running beside the site's create and remove Docker networks all the
time. In a namespace of its own, with only `lo`, nothing ever changes.

Playwright starts this file as the browser (it talks to Chromium over pipes,
which a network namespace does not touch). It enters a new network namespace,
brings `lo` up, listens on 127.0.0.1:CFPS_RELAY_PORT there and relays each
connection to the unix socket CFPS_RELAY_SOCKET (a file, so it is reachable
from any namespace), where the test relays on to the instance. Then it
becomes Chromium. Standard library only; needs root (CAP_SYS_ADMIN).
"""

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
CHROMIUM = "/usr/bin/chromium"


def pump(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for end in (src, dst):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


def relay(listener, target):
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # gone with Chromium
    if os.getppid() == 1:  # Chromium was gone before that
        os._exit(0)
    # Only Chromium may hold Playwright's pipes, or closing the browser waits on us.
    os.closerange(3, listener.fileno())
    os.closerange(listener.fileno() + 1, 1024)
    while True:
        conn, _ = listener.accept()
        upstream = socket.socket(socket.AF_UNIX)
        upstream.connect(target)
        for a, b in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=pump, args=(a, b), daemon=True).start()


libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(CLONE_NEWNET) != 0:
    sys.exit(f"chromium_netns: unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
listener = socket.create_server(("127.0.0.1", int(os.environ["CFPS_RELAY_PORT"])))
if os.fork() == 0:
    relay(listener, os.environ["CFPS_RELAY_SOCKET"])
listener.close()
os.execv(CHROMIUM, [CHROMIUM, *sys.argv[1:]])  # noqa: S606 - becomes Chromium, with its arguments
