#!/usr/bin/env python3
"""A raw seal-broker client for abuse tests (vaultd/broker-proto.h).

usage: broker-client.py SOCKET VPATH FILE [--nfds N] [--magic HEX] [--garbage]
                        [--fd N] [--repeat N]
Opens FILE read-only (a directory too), sends VPATH with N copies of its fd
(default 1), and prints "STATUS REASON" from the reply, or "DISCONNECTED".
Then sends nothing more. Exit 0 whenever a reply or a disconnect was seen.
--fd N sends the inherited fd N instead of opening FILE (an fd the caller
could not open itself). --repeat N sends the request N times on the same
connection, one reply line each, and stops at a disconnect.
"""
import os
import socket
import struct
import sys

MAGIC = 0x53564C31


def main():
    args = sys.argv[1:]
    nfds, magic, garbage, given_fd, repeat = 1, MAGIC, False, None, 1
    while len(args) > 3:
        opt = args.pop(3)
        if opt == "--nfds":
            nfds = int(args.pop(3))
        elif opt == "--magic":
            magic = int(args.pop(3), 16)
        elif opt == "--garbage":
            garbage = True
        elif opt == "--fd":
            given_fd = int(args.pop(3))
        elif opt == "--repeat":
            repeat = int(args.pop(3))
        else:
            sys.exit("unknown option " + opt)
    sock_path, vpath, path = args
    fd = given_fd if given_fd is not None else os.open(path, os.O_RDONLY)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(sock_path)
    if garbage:
        msg = os.urandom(64)
    else:
        msg = struct.pack("=I", magic) + vpath.encode() + b"\0"
    for _ in range(repeat):
        if nfds:
            socket.send_fds(s, [msg], [fd] * nfds)
        else:
            s.send(msg)
        try:
            rep = s.recv(1024)
        except (ConnectionResetError, socket.timeout):
            rep = b""
        if len(rep) < 4:
            print("DISCONNECTED")
            return
        status = struct.unpack("=i", rep[:4])[0]
        print(status, rep[4:].split(b"\0")[0].decode(errors="replace"), flush=True)


main()
