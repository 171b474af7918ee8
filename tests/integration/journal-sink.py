#!/usr/bin/env python3
"""A tiny fake journald for the audit tests: journald's native protocol in, JSON lines out.

usage: journal-sink.py SOCKET OUTFILE
       journal-sink.py --find OUTFILE CONDITION...

Binds an AF_UNIX SOCK_DGRAM socket at SOCKET (mode 0666) and writes every
datagram it receives as one JSON object per line to OUTFILE, flushed at
once. A datagram holds fields in either form journald accepts:
    KEY=value\\n                          (value without a newline)
    KEY\\n<u64 little-endian length><bytes>\\n   (binary-safe)
or is empty and carries a memfd (SCM_RIGHTS) whose contents are the fields
(what sd_journal_send does for records too big for one datagram).

Each JSON object maps KEY to its value, decoded as UTF-8 with
surrogateescape (so any byte survives json.loads + encode("utf-8",
"surrogateescape")); a key given twice maps to a list. Extra keys, all
starting with "__": "__binary" (keys that came in the binary-safe form),
"__memfd" (true when the record came in a memfd), "__malformed" (why the
datagram could not be parsed; the fields read until then are kept), and
"__peer" ([pid, uid] from SCM_CREDENTIALS when the sender's kernel gives
them). Prints "ready" on stdout once bound. Stops on SIGTERM or SIGINT and
removes SOCKET.

--find prints the records of OUTFILE that meet every CONDITION, one JSON
line each, and exits 0 if there is one, 1 if not. A CONDITION is KEY=VALUE
(exactly, byte for byte), KEY~REGEX (re.search), KEY? (present and not
empty) or !KEY (absent).
"""
import array
import json
import os
import re
import signal
import socket
import struct
import sys

MAX_DGRAM = 256 * 1024
MAX_MEMFD = 64 * 1024 * 1024


def parse(buf):
    """Returns (fields as [(key, bytes, binary)], error or None)."""
    out, i, n = [], 0, len(buf)
    while i < n:
        nl = buf.find(b"\n", i)
        if nl < 0:
            return out, "field without a trailing newline at byte %d" % i
        line = buf[i:nl]
        eq = line.find(b"=")
        if eq >= 0:
            key, val = line[:eq], line[eq + 1:]
            if not key:
                return out, "empty key at byte %d" % i
            out.append((key, val, False))
            i = nl + 1
            continue
        # KEY\n<u64 LE><bytes>\n
        key = line
        if not key:
            return out, "empty line at byte %d" % i
        if nl + 9 > n:
            return out, "binary field %r without its length" % key
        (length,) = struct.unpack("<Q", buf[nl + 1:nl + 9])
        start = nl + 9
        if start + length + 1 > n:
            return out, "binary field %r: length %d beyond the datagram" % (key, length)
        if buf[start + length:start + length + 1] != b"\n":
            return out, "binary field %r: no newline after its %d bytes" % (key, length)
        out.append((key, buf[start:start + length], True))
        i = start + length + 1
    return out, None


def record(fields, err, memfd, peer):
    rec, binary = {}, []
    for key, val, is_bin in fields:
        k = key.decode("utf-8", "surrogateescape")
        v = val.decode("utf-8", "surrogateescape")
        if is_bin:
            binary.append(k)
        if k in rec:
            if not isinstance(rec[k], list):
                rec[k] = [rec[k]]
            rec[k].append(v)
        else:
            rec[k] = v
    rec["__binary"] = binary
    if memfd:
        rec["__memfd"] = True
    if err:
        rec["__malformed"] = err
    if peer:
        rec["__peer"] = peer
    return rec


def read_fd(fd):
    size = os.fstat(fd).st_size
    if size > MAX_MEMFD:
        raise ValueError("memfd of %d bytes" % size)
    data, off = b"", 0
    while off < size:
        chunk = os.pread(fd, size - off, off)
        if not chunk:
            break
        data += chunk
        off += len(chunk)
    return data


def matches(rec, cond):
    if cond.startswith("!"):
        return cond[1:] not in rec
    if cond.endswith("?"):
        v = rec.get(cond[:-1])
        return isinstance(v, str) and v != ""
    m = re.match(r"([A-Za-z0-9_]+)([=~])(.*)\Z", cond, re.S)
    if not m:
        sys.exit("bad condition %r" % cond)
    key, op, want = m.groups()
    vals = rec.get(key)
    vals = vals if isinstance(vals, list) else [] if vals is None else [vals]
    if op == "=":
        return any(v == want for v in vals)
    return any(re.search(want, v, re.S) for v in vals)


def find(outpath, conds):
    found = 0
    with open(outpath, encoding="ascii") as f:
        for line in f:
            rec = json.loads(line)
            if all(matches(rec, c) for c in conds):
                print(line, end="")
                found += 1
    return 0 if found else 1


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--find":
        sys.exit(find(sys.argv[2], sys.argv[3:]))
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    path, outpath = sys.argv[1], sys.argv[2]
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    old = os.umask(0)
    s.bind(path)
    os.umask(old)
    os.chmod(path, 0o666)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    s.settimeout(0.2)
    out = open(outpath, "a", encoding="ascii")
    print("ready", flush=True)
    fdsize = array.array("i").itemsize
    try:
        while not stop:
            try:
                data, anc, _flags, _addr = s.recvmsg(
                    MAX_DGRAM, socket.CMSG_SPACE(16 * fdsize) + socket.CMSG_SPACE(12))
            except socket.timeout:
                continue
            except InterruptedError:
                continue
            fds, peer = [], None
            for level, typ, cdata in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    a = array.array("i")
                    a.frombytes(cdata[:len(cdata) - len(cdata) % fdsize])
                    fds.extend(a)
                elif level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                    pid, uid, _gid = struct.unpack("=iII", cdata[:12])
                    peer = [pid, uid]
            err, memfd = None, False
            try:
                if fds:
                    if data or len(fds) != 1:
                        err = "memfd with %d fds and %d inline bytes" % (len(fds), len(data))
                    else:
                        memfd = True
                        data = read_fd(fds[0])
            except (OSError, ValueError) as e:
                err = "cannot read the memfd: %s" % e
            finally:
                for fd in fds:
                    os.close(fd)
            fields, perr = parse(data) if err is None else ([], None)
            rec = record(fields, err or perr, memfd, peer)
            out.write(json.dumps(rec, ensure_ascii=True, sort_keys=True) + "\n")
            out.flush()
    finally:
        out.close()
        s.close()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


main()
