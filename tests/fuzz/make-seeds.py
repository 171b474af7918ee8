#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_session: one file per request sequence.

Input format of the target: a chunk-size byte, then that many bytes of SFTP
stream, repeated. Seeds use 0xff (chunks of 15,556 bytes), so each seed's
stream is fed whole. Run from anywhere: python3 make-seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")


def u32(v): return struct.pack(">I", v)
def u64(v): return struct.pack(">Q", v)
def s(b): b = b.encode() if isinstance(b, str) else b; return u32(len(b)) + b
def pkt(t, body): return u32(len(body) + 1) + bytes([t]) + body
def attrs(perm=None, size=None):
    flags, body = 0, b""
    if size is not None: flags |= 1; body += u64(size)
    if perm is not None: flags |= 4; body += u32(perm)
    return u32(flags) + body

H0 = u32(0) + u32(1)          # the first handle a session gives out
H1 = u32(1) + u32(1)

seeds = {
    "upload": pkt(14, u32(1) + s("d") + attrs()) +
              pkt(3, u32(2) + s("d/f") + u32(0x1a) + attrs(0o644)) +
              pkt(6, u32(3) + s(H0) + u64(0) + s(b"hello")) +
              pkt(10, u32(4) + s(H0) + attrs(0o600)) +
              pkt(4, u32(5) + s(H0)),
    "reupload": pkt(3, u32(1) + s("f") + u32(0x0a) + attrs()) +
                pkt(6, u32(2) + s(H0) + u64(0) + s(b"abc")) +
                pkt(4, u32(3) + s(H0)) +
                pkt(3, u32(4) + s("f") + u32(0x1a) + attrs()) +
                pkt(6, u32(5) + s(u32(0) + u32(2)) + u64(0) + s(b"abd")) +
                pkt(4, u32(6) + s(u32(0) + u32(2))),
    "read": pkt(3, u32(1) + s("f") + u32(1) + attrs()) +
            pkt(5, u32(2) + s(H0) + u64(0) + u32(4096)) +
            pkt(8, u32(3) + s(H0)) + pkt(4, u32(4) + s(H0)),
    "dir": pkt(11, u32(1) + s("/") + b"") + pkt(12, u32(2) + s(H0)) +
           pkt(12, u32(3) + s(H0)) + pkt(4, u32(4) + s(H0)),
    "paths": pkt(16, u32(1) + s("../../x/./y")) + pkt(17, u32(2) + s("/")) +
             pkt(7, u32(3) + s("d/f")) + pkt(19, u32(4) + s("l")) +
             pkt(13, u32(5) + s("f")) + pkt(15, u32(6) + s("d")) +
             pkt(18, u32(7) + s("f") + s("g")) + pkt(20, u32(8) + s("f") + s("l")) +
             pkt(9, u32(9) + s("f") + attrs(0o444)),
    "extensions": pkt(200, u32(1) + s("limits@openssh.com")) +
                  pkt(200, u32(2) + s("statvfs@openssh.com") + s("/")) +
                  pkt(200, u32(3) + s("expand-path@openssh.com") + s("~/a")) +
                  pkt(200, u32(4) + s("users-groups-by-id@openssh.com") + s(u32(0)) + s(u32(0))) +
                  pkt(200, u32(5) + s("posix-rename@openssh.com") + s("a") + s("b")) +
                  pkt(200, u32(6) + s("hardlink@openssh.com") + s("a") + s("b")) +
                  pkt(200, u32(7) + s("lsetstat@openssh.com") + s("a") + attrs(0o400)) +
                  pkt(200, u32(8) + s("home-directory") + s("x")) +
                  pkt(200, u32(9) + s("fsync@openssh.com") + s(H1)) +
                  pkt(200, u32(10) + s("nope@example.com")),
    "malformed": u32(0) + pkt(3, u32(1)) + pkt(99, u32(2)) + pkt(3, u32(3) + u32(0xffffff)) +
                 u32(300000) + bytes([5]) + u32(4) + bytes(64),
    "reserved": pkt(3, u32(1) + s(".sealvault.part.0123456789abcdef") + u32(1) + attrs()) +
                pkt(14, u32(2) + s("a/.sealvault") + attrs()),
}

os.makedirs(OUT, exist_ok=True)
for name, stream in seeds.items():
    with open(os.path.join(OUT, "seed-" + name), "wb") as f:
        f.write(b"\xff" + stream)
