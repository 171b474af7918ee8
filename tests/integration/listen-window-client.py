#!/usr/bin/env python3
"""An SSH client that ignores the window the server gives it (paramiko).

usage: listen-window-client.py --port P --user U --key KEY [--mib N]

Logs in, opens the sftp subsystem with a small receive window of its own,
sends SSH_FXP_INIT and then SSH_FXP_REALPATH requests back to back without
ever reading a reply. The replies soon fill the client's window, so the
server's vault-sftp stops reading, and everything sent after that piles up
in the server, unless the server holds the client to the SSH window it
gave. paramiko itself would wait for WINDOW_ADJUST: its wait is replaced
by one that never waits, and N MiB (default 64) are pushed.

Prints one line; exit 0 when the server closed the connection before all
N MiB were sent (or within 20 s after), 1 when it still served, 2 on an
error before the flood began.
"""
import argparse
import socket
import struct
import sys
import threading
import time

import paramiko


def sftp_packet(ptype, payload):
    return struct.pack(">IB", len(payload) + 1, ptype) + payload


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--mib", type=int, default=64)
    a = ap.parse_args()

    try:
        sock = socket.create_connection(("127.0.0.1", a.port), timeout=10)
        # The replies fill this window after a few hundred requests.
        t = paramiko.Transport(sock, default_window_size=65536)
        t.connect(username=a.user, pkey=paramiko.Ed25519Key.from_private_key_file(a.key))
        chan = t.open_session()
        chan.invoke_subsystem("sftp")
    except Exception as e:  # noqa: BLE001 - any failure before the flood is an error
        print("setup failed: %r" % (e,))
        return 2

    limit = chan.out_max_packet_size - 64
    # Never wait for the server's WINDOW_ADJUST: take any size at once.
    chan._wait_for_send_window = lambda size: min(size, limit)

    total = a.mib * 1024 * 1024
    realpath = b"".join(
        sftp_packet(16, struct.pack(">I", i) + struct.pack(">I", 1) + b".") for i in range(1, 2001)
    )
    state = {"sent": 0, "error": None}

    def flood():
        try:
            chan.sendall(sftp_packet(1, struct.pack(">I", 3)))
            while state["sent"] < total:
                chan.sendall(realpath)
                state["sent"] += len(realpath)
        except Exception as e:  # noqa: BLE001 - the server closing is what we wait for
            state["error"] = e

    th = threading.Thread(target=flood, daemon=True)
    start = time.monotonic()
    th.start()
    # Bounded: 60 s for the flood, then 20 s for the server to act.
    th.join(60)
    deadline = time.monotonic() + 20
    while t.is_active() and time.monotonic() < deadline:
        time.sleep(0.1)
    mib = state["sent"] / 1048576.0
    took = time.monotonic() - start
    if t.is_active():
        why = "all sent" if state["sent"] >= total else "the server stopped reading"
        print("STILL CONNECTED: %.1f MiB sent past the window (%s) in %.1f s" % (mib, why, took))
        t.close()
        return 1
    print("closed by the server after %.1f MiB sent in %.1f s (%r)" % (mib, took, state["error"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
