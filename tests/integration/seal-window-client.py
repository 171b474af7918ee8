#!/usr/bin/env python3
"""The seal window, measured from the client's side of a real sshd + vault-sftp.

usage: seal-window-client.py --port P --user U --key KEY --known-hosts FILE
                             --disk DIR COMMAND [ARGS]

Runs on the server host as root: DIR is the tenant root on disk, so that
right after each reply the client gets, the file itself can be looked at
(FS_IOC_GETFLAGS on an O_RDONLY|O_NOFOLLOW fd, the seal-time xattr, its
sha256). Requests go through paramiko's SFTP channel, but OPEN, WRITE and
CLOSE are sent one by one and each status is checked: paramiko's own
SFTPFile.close() ignores the status of CLOSE, which is exactly where
vault-sftp answers after sealing (and where it refuses a re-upload whose
content differs).

Commands (each prints "key=value" counters and one "VIOLATION ..." line per
violation, at most 50; exit 0 without violations, 1 with, 2 on an error):
  window N [PREFIX]  upload N files one by one; after each CLOSE reply the
                     file must be immutable with a plausible seal time and
                     the uploaded content; then reopen it for writing as
                     paramiko's modes 'r+', 'a' and 'w' do and try to write
                     other bytes: some step of each attempt must be refused,
                     and the content on disk must not change.
  rename N           upload N temp files (NAME.tmp, not sealed), publish
                     each with posix-rename@openssh.com; after the rename
                     reply the published name must be immutable.
  tree DIR... -- N   mkdir each DIR, then upload N files into the last one
                     (each checked like window's); for the directory checks
                     of the caller.
  put VPATH          upload random bytes to VPATH (must succeed and be
                     immutable); prints "sha256=..." of what was sent.
  refuse OP VPATH    a request that must be refused: OP is remove, rmdir,
                     rename (to VPATH.moved), setstat (chmod 0666) or
                     append; prints "refused=CODE TEXT".
"""
import argparse
import fcntl
import hashlib
import os
import random
import struct
import sys
import time

import paramiko
from paramiko.sftp import (CMD_CLOSE, CMD_EXTENDED, CMD_HANDLE, CMD_OPEN, CMD_REMOVE,
                           CMD_RENAME, CMD_RMDIR, CMD_SETSTAT, CMD_WRITE)
from paramiko.py3compat import long as u64
from paramiko.sftp_attr import SFTPAttributes

FS_IOC_GETFLAGS = 0x80086601
FS_IMMUTABLE_FL = 0x00000010
SEAL_XATTR = "trusted.sealvault.sealed"

# SSH_FXF_* and how paramiko's SFTPClient.open() maps its modes onto them.
FXF_READ, FXF_WRITE, FXF_APPEND, FXF_CREAT, FXF_TRUNC = 0x1, 0x2, 0x4, 0x8, 0x10
MODES = {
    "r+": FXF_READ | FXF_WRITE,
    "a": FXF_WRITE | FXF_CREAT | FXF_APPEND,
    "w": FXF_WRITE | FXF_CREAT | FXF_TRUNC,
}
CHUNK = 32768
MAX_SHOWN = 50


class Refused(Exception):
    """The server answered a request with a status other than OK."""


class Checker:
    def __init__(self, sftp, disk):
        self.sftp = sftp
        self.disk = disk
        self.t0 = int(time.time())
        self.violations = []
        self.counts = {}

    # ------------------------------------------------------------ SFTP, raw
    def req(self, t, *args):
        try:
            return self.sftp._request(t, *args)
        except (IOError, EOFError) as e:
            raise Refused(str(e)) from None

    def open(self, vpath, flags):
        t, msg = self.req(CMD_OPEN, vpath, flags, SFTPAttributes())
        if t != CMD_HANDLE:
            raise RuntimeError("OPEN %r: reply type %d" % (vpath, t))
        return msg.get_binary()

    def write(self, handle, data, offset=0):
        for i in range(0, len(data), CHUNK):
            # paramiko packs its "long" as a u64 and a plain int as a u32.
            self.req(CMD_WRITE, handle, u64(offset + i), data[i:i + CHUNK])

    def close(self, handle):
        self.req(CMD_CLOSE, handle)

    def upload(self, vpath, data):
        h = self.open(vpath, MODES["w"])
        try:
            self.write(h, data)
        except Refused:
            try:
                self.close(h)
            except Refused:
                pass
            raise
        self.close(h)

    # ------------------------------------------------------------ the disk
    def local(self, vpath):
        return os.path.join(self.disk, vpath.lstrip("/"))

    def disk_flags(self, vpath):
        fd = os.open(self.local(vpath), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            buf = bytearray(8)
            fcntl.ioctl(fd, FS_IOC_GETFLAGS, buf)
            return struct.unpack_from("=I", buf)[0]
        finally:
            os.close(fd)

    def disk_sum(self, vpath):
        with open(self.local(vpath), "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    # ------------------------------------------------------------ bookkeeping
    def count(self, key, n=1):
        self.counts[key] = self.counts.get(key, 0) + n

    def violation(self, kind, vpath, detail=""):
        self.count("violations")
        self.count(kind)
        self.violations.append("VIOLATION %s %r %s" % (kind, vpath, detail))

    def check_sealed(self, vpath, want_sum):
        """What must hold right after the reply that published vpath."""
        try:
            flags = self.disk_flags(vpath)
        except OSError as e:
            self.violation("missing-on-disk", vpath, str(e))
            return
        if not flags & FS_IMMUTABLE_FL:
            self.violation("not-immutable", vpath, "flags 0x%x after the reply" % flags)
        else:
            self.count("immutable")
        try:
            raw = os.getxattr(self.local(vpath), SEAL_XATTR, follow_symlinks=False)
            when = int(raw.decode("ascii"))
            if not raw.decode("ascii").isdigit() or not self.t0 - 5 <= when <= time.time() + 5:
                self.violation("seal-time-implausible", vpath, repr(raw))
        except (OSError, ValueError, UnicodeDecodeError) as e:
            self.violation("no-seal-time", vpath, str(e))
        got = self.disk_sum(vpath)
        if got != want_sum:
            self.violation("content-differs", vpath, "on disk %s, sent %s" % (got, want_sum))

    def try_overwrite(self, vpath, mode, size):
        """One attempt to change vpath through OPEN with paramiko's mode; True if refused."""
        other = os.urandom(max(size, 1))
        try:
            h = self.open(vpath, MODES[mode])
        except Refused:
            self.count("refused-open-" + mode)
            return True
        refused = False
        try:
            self.write(h, other)
        except Refused:
            refused = True
            self.count("refused-write-" + mode)
        try:
            self.close(h)
        except Refused:
            if not refused:
                self.count("refused-close-" + mode)
            refused = True
        return refused

    def check_unwritable(self, vpath, want_sum, size):
        for mode in ("r+", "a", "w"):
            if not self.try_overwrite(vpath, mode, size):
                self.violation("reopen-accepted", vpath, "mode %r: OPEN, WRITE and CLOSE all OK" % mode)
            got = self.disk_sum(vpath)
            if got != want_sum:
                self.violation("changed-by-reopen", vpath, "mode %r" % mode)
                want_sum = got
            try:
                if not self.disk_flags(vpath) & FS_IMMUTABLE_FL:
                    self.violation("unsealed-by-reopen", vpath, "mode %r" % mode)
            except OSError as e:
                self.violation("missing-after-reopen", vpath, str(e))

    def report(self):
        for line in self.violations[:MAX_SHOWN]:
            print(line)
        if len(self.violations) > MAX_SHOWN:
            print("... %d more violations" % (len(self.violations) - MAX_SHOWN))
        self.counts.setdefault("violations", 0)
        for k in sorted(self.counts):
            print("%s=%d" % (k, self.counts[k]))
        return 1 if self.counts["violations"] else 0


def payload(i):
    # Sizes from empty to a few chunks, so that short and multi-WRITE uploads both occur.
    size = (0, 1, 4095, 4096, 70000)[i] if i < 5 else random.randint(1, 20000)
    return os.urandom(size)


def cmd_window(c, args):
    n = int(args[0])
    prefix = args[1] if len(args) > 1 else "w"
    for i in range(n):
        vpath = "/%s%05d.bin" % (prefix, i)
        data = payload(i)
        c.upload(vpath, data)
        want = hashlib.sha256(data).hexdigest()
        c.check_sealed(vpath, want)
        c.check_unwritable(vpath, want, len(data))
        c.count("files")
    return c.report()


def cmd_rename(c, args):
    n = int(args[0])
    for i in range(n):
        tmp, final = "/r%05d.bin.tmp" % i, "/r%05d.bin" % i
        data = payload(i + 5)
        want = hashlib.sha256(data).hexdigest()
        c.upload(tmp, data)
        try:
            if c.disk_flags(tmp) & FS_IMMUTABLE_FL:
                c.violation("temp-sealed", tmp, "a temp-class upload was sealed before its rename")
        except OSError as e:
            c.violation("temp-missing", tmp, str(e))
        c.sftp.posix_rename(tmp, final)
        c.check_sealed(final, want)
        if os.path.lexists(c.local(tmp)):
            c.violation("temp-left", tmp, "still there after the rename")
        if not c.try_overwrite(final, "a", len(data)):
            c.violation("reopen-accepted", final, "mode 'a' after the rename")
        c.count("files")
    return c.report()


def cmd_tree(c, args):
    sep = args.index("--")
    dirs, n = args[:sep], int(args[sep + 1])
    for d in dirs:
        c.sftp.mkdir(d)
    for i in range(n):
        vpath = "%s/t%03d.bin" % (dirs[-1], i)
        data = payload(i + 5)
        c.upload(vpath, data)
        c.check_sealed(vpath, hashlib.sha256(data).hexdigest())
        c.count("files")
    return c.report()


def cmd_put(c, args):
    vpath = args[0]
    data = os.urandom(random.randint(100, 5000))
    c.upload(vpath, data)
    want = hashlib.sha256(data).hexdigest()
    print("sha256=%s" % want)
    c.check_sealed(vpath, want)
    c.count("files")
    return c.report()


def cmd_refuse(c, args):
    op, vpath = args
    try:
        if op == "remove":
            c.req(CMD_REMOVE, vpath)
        elif op == "rmdir":
            c.req(CMD_RMDIR, vpath)
        elif op == "rename":
            c.req(CMD_RENAME, vpath, vpath + ".moved")
        elif op == "setstat":
            a = SFTPAttributes()
            a.st_mode = 0o100666
            c.req(CMD_SETSTAT, vpath, a)
        elif op == "append":
            h = c.open(vpath, MODES["a"])
            c.close(h)
        elif op == "posix-rename":
            c.req(CMD_EXTENDED, "posix-rename@openssh.com", vpath, vpath + ".moved")
        else:
            print("unknown op %s" % op)
            return 2
    except Refused as e:
        print("refused=%s" % e)
        return 0
    c.violation("accepted", vpath, "%s was answered OK" % op)
    return c.report()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--known-hosts", required=True)
    ap.add_argument("--disk", required=True)
    ap.add_argument("command", choices=["window", "rename", "tree", "put", "refuse"])
    ap.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args()

    ssh = paramiko.SSHClient()
    ssh.load_host_keys(a.known_hosts)
    ssh.set_missing_host_key_policy(paramiko.RejectPolicy())
    ssh.connect("127.0.0.1", port=a.port, username=a.user,
                pkey=paramiko.Ed25519Key.from_private_key_file(a.key),
                allow_agent=False, look_for_keys=False,
                timeout=10, banner_timeout=10, auth_timeout=10)
    try:
        sftp = ssh.open_sftp()
        # Every reply is awaited at most this long: a hung server fails the test.
        sftp.get_channel().settimeout(30)
        c = Checker(sftp, a.disk)
        fn = {"window": cmd_window, "rename": cmd_rename, "tree": cmd_tree,
              "put": cmd_put, "refuse": cmd_refuse}[a.command]
        t = time.monotonic()
        rc = fn(c, a.args)
        print("elapsed_ms=%d" % ((time.monotonic() - t) * 1000))
        return rc
    finally:
        ssh.close()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Refused as e:
        print("ERROR: a request that must succeed was refused: %s" % e)
        sys.exit(2)
    except (paramiko.SSHException, OSError, RuntimeError) as e:
        print("ERROR: %s: %s" % (type(e).__name__, e))
        sys.exit(2)
