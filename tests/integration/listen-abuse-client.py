#!/usr/bin/env python3
"""Hostile SSH clients for test_listen_abuse.sh (paramiko).

usage: listen-abuse-client.py COMMAND --port P [--user U --key KEY] [options]

  flood-none       key exchange, one auth "none", then (after --go) auth
                   "none" requests back to back, never reading a reply
  flood-keepalive  logs in, then (after --go) keepalive@openssh.com global
                   requests with want-reply, never reading a reply
  stop-reading     logs in, opens --path over sftp, then (after --go)
                   asks for --mib MiB of it and stops reading the socket
  spin             logs in, opens --path over sftp, then (after --go) sends
                   --reads READs of 32 KiB and EOF, and never takes a reply
                   out of its small channel window
  close-early      opens --name for writing, then (after --go) uploads
                   --src into it and sends CLOSE, EOF and CHANNEL_CLOSE at
                   once without waiting for a reply; then waits (on a new
                   channel) until --name is published
  churn            opens 10 sftp sessions on one connection, then closes
                   them all and opens 10 again in one write, --rounds times
  hold             an sftp session that lists "/" every 0.5 s until the
                   server ends it

The clients that wait for --go print "ready" first, so that the test can
find the listener's process for this connection before the abuse starts.
The floods and stop-reading never end by themselves (the test stops them,
and a SIGALRM after --limit seconds is the last wall). Exit status: 0 as
described per command, 1 when the server did not behave, 2 on an error
before the abuse began.
"""
import argparse
import os
import signal
import socket
import struct
import sys
import threading
import time

import paramiko
from paramiko.message import Message

SSH_MSG_USERAUTH_REQUEST = 50
SSH_MSG_GLOBAL_REQUEST = 80
FXP_INIT, FXP_OPEN, FXP_CLOSE, FXP_READ, FXP_WRITE = 1, 3, 4, 5, 6
FXP_HANDLE = 102
FXF_READ, FXF_WRITE, FXF_CREAT, FXF_TRUNC = 0x01, 0x02, 0x08, 0x10


def say(fmt, *args):
    print(fmt % args, flush=True)


def sftp_packet(ptype, payload):
    return struct.pack(">IB", len(payload) + 1, ptype) + payload


def sftp_string(b):
    return struct.pack(">I", len(b)) + b


def sftp_reply(chan):
    """One SFTP packet from the channel: (type, payload after the type)."""
    data = b""
    while len(data) < 4:
        d = chan.recv(4 - len(data))
        if not d:
            raise EOFError("sftp channel closed")
        data += d
    n = struct.unpack(">I", data)[0]
    body = b""
    while len(body) < n:
        d = chan.recv(n - len(body))
        if not d:
            raise EOFError("sftp channel closed")
        body += d
    return body[0], body[1:]


def sftp_open(chan, path, pflags):
    """INIT, then OPEN: the handle."""
    chan.sendall(sftp_packet(FXP_INIT, struct.pack(">I", 3)))
    sftp_reply(chan)
    chan.sendall(sftp_packet(FXP_OPEN, struct.pack(">I", 1) + sftp_string(path.encode()) +
                             struct.pack(">II", pflags, 0)))
    ptype, body = sftp_reply(chan)
    if ptype != FXP_HANDLE:
        raise RuntimeError("OPEN %s: reply type %d %r" % (path, ptype, body[:80]))
    n = struct.unpack(">I", body[4:8])[0]
    return body[8:8 + n]


def connect(a, window=None, small=False):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if small:
        # Small segments and a small receive buffer keep the server's send
        # buffer small (loopback's 64 KiB segments would make it ~2.5 MB):
        # one libssh write of a relayed chunk then no longer fits in it.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", a.port))
    kw = {} if window is None else {"default_window_size": window}
    return paramiko.Transport(sock, **kw)


def login(a, **kw):
    t = connect(a, **kw)
    t.connect(username=a.user, pkey=paramiko.Ed25519Key.from_private_key_file(a.key))
    return t


def stop_reading(t):
    """From the next packet on, paramiko takes nothing more from the socket.
    The returned event is set once its reader thread has stopped."""
    stopped = threading.Event()

    def never():
        stopped.set()
        time.sleep(3600)
    t.packetizer.read_message = never
    return stopped


def wait_go(path):
    say("ready")
    for _ in range(600):
        if os.path.exists(path):
            return
        time.sleep(0.05)
    raise RuntimeError("no go file %s after 30 s" % path)


def hold_forever(state=None):
    """Until the test stops us; a flood says now and then how far it got."""
    while True:
        time.sleep(1)
        if state is not None:
            say("sent %d, %s", state["sent"], "send failed: %r" % (state["error"],) if state["error"] else "sending")


def flood(t, make, state):
    """Sends make() messages through paramiko's packetizer until it fails."""
    try:
        while True:
            t.packetizer.send_message(make())
            state["sent"] += 1
    except Exception as e:  # noqa: BLE001 - the server closing is one way this ends
        state["error"] = e


def cmd_flood(a):
    state = {"sent": 0, "error": None}
    try:
        if a.cmd == "flood-none":
            t = connect(a)
            t.start_client(timeout=10)
            try:
                t.auth_none(a.user)
            except paramiko.BadAuthenticationType:
                pass

            def make():
                m = Message()
                m.add_byte(bytes([SSH_MSG_USERAUTH_REQUEST]))
                m.add_string(a.user)
                m.add_string("ssh-connection")
                m.add_string("none")
                return m
        else:
            t = login(a)

            def make():
                m = Message()
                m.add_byte(bytes([SSH_MSG_GLOBAL_REQUEST]))
                m.add_string("keepalive@openssh.com")
                m.add_boolean(True)
                return m
        stop_reading(t)
        wait_go(a.go)
    except Exception as e:  # noqa: BLE001 - any failure before the flood is an error
        say("setup failed: %r", e)
        return 2
    threading.Thread(target=flood, args=(t, make, state), daemon=True).start()
    hold_forever(state)


def cmd_stop_reading(a):
    try:
        # Small TCP segments and receive buffer keep the server's socket
        # buffer small, and a huge SSH window never holds the replies back.
        t = login(a, window=1 << 30, small=True)
        chan = t.open_session()
        chan.invoke_subsystem("sftp")
        h = sftp_open(chan, a.path, FXF_READ)
        wait_go(a.go)
        # paramiko takes the reply to the first READ, then nothing more.
        stopped = stop_reading(t)
        chan.sendall(sftp_packet(FXP_READ, struct.pack(">I", 9) + sftp_string(h) + struct.pack(">QI", 0, 32768)))
        if not stopped.wait(10):
            raise RuntimeError("paramiko's reader did not stop")
    except Exception as e:  # noqa: BLE001
        say("setup failed: %r", e)
        return 2
    reads = b"".join(sftp_packet(FXP_READ, struct.pack(">I", 10 + i) + sftp_string(h) +
                                 struct.pack(">QI", i * 32768, 32768)) for i in range(a.mib * 32))
    chan.sendall(reads)
    # A slow reader first (raw bytes, past paramiko): each time the server
    # may write again, it has more queued than its socket takes (libssh
    # sends its whole queue at once), then a reader that stopped.
    got, start = 0, time.monotonic()
    while time.monotonic() - start < 3:
        try:
            got += len(t.sock.recv(8192))
        except socket.timeout:
            pass
        time.sleep(0.02)
    say("asked for %d MiB, took %d bytes in 3 s; reading nothing more", a.mib, got)
    hold_forever()


def cmd_spin(a):
    try:
        # 64 KiB of replies fill this window; paramiko's reader thread keeps
        # running, but nothing is taken out of the channel, so no WINDOW_ADJUST.
        t = login(a, window=65536)
        chan = t.open_session()
        chan.invoke_subsystem("sftp")
        h = sftp_open(chan, a.path, FXF_READ)
        wait_go(a.go)
    except Exception as e:  # noqa: BLE001
        say("setup failed: %r", e)
        return 2
    for i in range(a.reads):
        chan.sendall(sftp_packet(FXP_READ, struct.pack(">I", 10 + i) + sftp_string(h) +
                                 struct.pack(">QI", i * 32768, 32768)))
    chan.shutdown_write()
    say("sent %d READs and EOF; taking no reply", a.reads)
    hold_forever()


def cmd_close_early(a):
    try:
        t = login(a)
        chan = t.open_session()
        chan.invoke_subsystem("sftp")
        h = sftp_open(chan, a.name, FXF_WRITE | FXF_CREAT | FXF_TRUNC)
        wait_go(a.go)
    except Exception as e:  # noqa: BLE001
        say("setup failed: %r", e)
        return 2
    off, rid = 0, 2
    with open(a.src, "rb") as f:
        while True:
            chunk = f.read(32768)
            if not chunk:
                break
            chan.sendall(sftp_packet(FXP_WRITE, struct.pack(">I", rid) + sftp_string(h) +
                                     struct.pack(">Q", off) + sftp_string(chunk)))
            off += len(chunk)
            rid += 1
    # No reply awaited: CLOSE, EOF and CHANNEL_CLOSE leave together.
    chan.sendall(sftp_packet(FXP_CLOSE, struct.pack(">I", rid) + sftp_string(h)))
    chan.shutdown_write()
    chan.close()
    say("sent %d bytes, then CLOSE, EOF and CHANNEL_CLOSE at once", off)
    sftp = paramiko.SFTPClient.from_transport(t)
    start = time.monotonic()
    while time.monotonic() - start < 30:
        try:
            st = sftp.stat(a.name)
            say("%s published after %.1f s: %d bytes", a.name, time.monotonic() - start, st.st_size)
            return 0
        except FileNotFoundError:
            time.sleep(0.2)
    say("%s not published after 30 s", a.name)
    return 1


def open_sftp(t, results, i):
    try:
        c = t.open_session(timeout=10)
        c.invoke_subsystem("sftp")
        results[i] = c
    except Exception as e:  # noqa: BLE001 - a refusal is what we count
        results[i] = e


def cmd_churn(a):
    try:
        t = login(a)
        chans = [None] * 10
        for i in range(10):
            open_sftp(t, chans, i)
            if isinstance(chans[i], Exception):
                raise chans[i]
    except Exception as e:  # noqa: BLE001
        say("setup failed: %r", e)
        return 2
    refused = 0
    for rnd in range(a.rounds):
        # The 10 CLOSEs and the 10 new CHANNEL_OPENs leave in one write, so
        # that the server sees them all at once: paramiko's socket writes
        # are held (in order, under its write lock) until all are queued.
        pk = t.packetizer
        held, write_all = [], pk.write_all
        pk.write_all = held.append
        for c in chans:
            c.close()
        queued = len(held)
        results = [None] * 10
        threads = [threading.Thread(target=open_sftp, args=(t, results, i), daemon=True) for i in range(10)]
        for th in threads:
            th.start()
        for _ in range(200):
            if len(held) >= queued + 10:
                break
            time.sleep(0.05)
        with pk._Packetizer__write_lock:
            pk.write_all = write_all
            write_all(b"".join(held))
        for th in threads:
            th.join(30)
        for i, r in enumerate(results):
            if not isinstance(r, paramiko.Channel):
                refused += 1
                say("round %d, session %d refused: %r", rnd + 1, i + 1, r)
        chans = [r for r in results if isinstance(r, paramiko.Channel)]
        if len(chans) < 10:
            break
    say("10 sessions closed and 10 reopened at once, %d time(s): %d refused", a.rounds, refused)
    return 1 if refused else 0


def cmd_hold(a):
    try:
        t = login(a)
        sftp = paramiko.SFTPClient.from_transport(t)
        sftp.listdir("/")
    except Exception as e:  # noqa: BLE001
        say("setup failed: %r", e)
        return 2
    say("ready")
    start = time.monotonic()
    while time.monotonic() - start < a.seconds:
        try:
            sftp.listdir("/")
        except Exception as e:  # noqa: BLE001 - the server ending the session
            say("session ended after %.1f s: %r", time.monotonic() - start, e)
            return 0
        time.sleep(0.5)
    say("STILL SERVED after %d s", a.seconds)
    return 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["flood-none", "flood-keepalive", "stop-reading", "spin", "close-early",
                                    "churn", "hold"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", default="nobody")
    ap.add_argument("--key")
    ap.add_argument("--go", help="start the abuse once this file exists")
    ap.add_argument("--path", help="a file in the vault to read")
    ap.add_argument("--mib", type=int, default=32)
    ap.add_argument("--reads", type=int, default=8)
    ap.add_argument("--src", help="the local file to upload")
    ap.add_argument("--name", help="its name in the vault")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--limit", type=int, default=90, help="SIGALRM after this many seconds")
    a = ap.parse_args()
    signal.alarm(a.limit)
    cmds = {"flood-none": cmd_flood, "flood-keepalive": cmd_flood, "stop-reading": cmd_stop_reading,
            "spin": cmd_spin, "close-early": cmd_close_early, "churn": cmd_churn, "hold": cmd_hold}
    rc = cmds[a.cmd](a)
    sys.stdout.flush()
    # paramiko's reader thread may sit in the never-returning read: do not wait for it.
    os._exit(rc)


if __name__ == "__main__":
    main()
