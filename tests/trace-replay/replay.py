#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
Trace replay: the request sequences real backup clients sent to OpenSSH's
sftp-server (shared/clients/traces/*.ops.txt), replayed against vault-sftp
and judged against what policy/README.md says the vault must answer.

For every trace:
  1. The trace is parsed (one event per request line, sessions merged by time).
  2. The state the recorded server had before the trace is inferred from the
     trace itself (files it read, listed, removed ...), with the scenario's
     declarations from expectations.py (files that pre-existed, changed
     content, uploads the vault never published), and seeded into a fresh
     temp root. Listings fix the number of entries a directory held; unnamed
     ones are filled with "zz-seed-fill-N" files.
  3. Each recorded session gets its own vault-sftp process (pipes, raw SFTP v3
     packets), started with a generated vault.conf whose tenant uses the
     tool's built-in profile. Requests are sent in the merged order of the
     trace, one at a time (the writes and reads of one aggregate line are
     pipelined), so the order across sessions is the recorded one.
  4. Two models run alongside: R, with OpenSSH's semantics, reproduces the
     recorded world (it must agree with the recorded replies; where it cannot,
     the trace is inconsistent, e.g. cross-session order off by a few ms, and
     the line is a NOTE); V, with the semantics of policy/README.md and the
     profile, gives the answer the vault must send. The live answer must be
     V's answer. Where V differs from the recording, the difference must be
     either declared in expectations.py (refuse / soft / ignore / compare /
     anomaly) or a consequence of an earlier one (R and V hold different
     state for the paths involved). Every request on which the policy acts
     (refuses, moves to the attic, ignores, compares) must be declared.
  5. Afterwards the vault's tree must equal V's, its attic must hold what V
     moved there, and every file that was ever finished (sealed or versioned)
     must still exist byte-identical in place or in <root>/.sealvault/attic/.

Output: one line per failure, a summary line per trace, and a closing line
"N passed, M failed" (traces). Exit 0 if all passed, 1 otherwise, 77 if the
traces directory is absent.
"""
import argparse
import calendar
import collections
import fnmatch
import hashlib
import os
import random
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True     # no __pycache__ in the source tree
import expectations as X  # noqa: E402

SERVER_HOME = "/srv/vault/client"   # the recorded account's home: the vault's "/"

# ---------------------------------------------------------------------------
# SFTP v3 constants
# ---------------------------------------------------------------------------
INIT, VERSION, OPEN, CLOSE, READ, WRITE, LSTAT, FSTAT, SETSTAT, FSETSTAT = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
OPENDIR, READDIR, REMOVE, MKDIR, RMDIR, REALPATH, STAT, RENAME, READLINK, SYMLINK = range(11, 21)
STATUS, HANDLE, DATA, NAME, ATTRS, EXTENDED, EXTENDED_REPLY = 101, 102, 103, 104, 105, 200, 201
FXF = {"READ": 1, "WRITE": 2, "APPEND": 4, "CREATE": 8, "TRUNCATE": 0x10, "EXCL": 0x20}
A_SIZE, A_UIDGID, A_PERM, A_TIME = 1, 2, 4, 8
STATUS_TOKEN = {0: "OK", 1: "EOF", 2: "ENOENT", 3: "PERM", 4: "FAILURE", 5: "BADMSG",
                6: "NOCONN", 7: "CONNLOST", 8: "UNSUPPORTED"}
MAX_CHUNK = 261120
REFUSED = frozenset({"PERM", "FAILURE"})

# ---------------------------------------------------------------------------
# Deterministic content: the byte at offset o of stream KEY depends on (KEY, o).
# ---------------------------------------------------------------------------
_P = 1 << 20
_SLICE = 1 << 18
_BASE = random.Random(0x5EA1).randbytes(_P)
_BASE += _BASE[:_SLICE]     # periodic: byte o of a stream never depends on how it is sliced
_TABLES = {}


def _table(key):
    t = _TABLES.get(key)
    if t is None:
        r = random.Random(hashlib.sha256(key.encode()).digest())
        perm = list(range(256))
        r.shuffle(perm)
        t = _TABLES[key] = (bytes(perm), r.randrange(_P))
    return t


def gen(key, off, n):
    perm, shift = _table(key)
    out = []
    while n > 0:
        i = (off + shift) % _P
        k = min(n, _SLICE)
        out.append(_BASE[i:i + k])
        off += k
        n -= k
    return b"".join(out).translate(perm)


class Content:
    """A file's bytes as extents (off, n, key) over zeros, up to size."""
    __slots__ = ("ext", "size", "_md5")

    def __init__(self, ext=None, size=0):
        self.ext = list(ext or [])
        self.size = size
        self._md5 = None

    @classmethod
    def synth(cls, key, size):
        return cls([(0, size, key)] if size else [], size)

    def copy(self):
        return Content(self.ext, self.size)

    def write(self, off, n, key):
        if n <= 0:
            return
        end = off + n
        out = []
        for (o, m, k) in self.ext:
            e = o + m
            if e <= off or o >= end:
                out.append((o, m, k))
                continue
            if o < off:
                out.append((o, off - o, k))
            if e > end:
                out.append((end, e - end, k))
        out.append((off, n, key))
        out.sort()
        self.ext = _merge(out)
        self.size = max(self.size, end)
        self._md5 = None

    def truncate(self, size):
        out = []
        for (o, m, k) in self.ext:
            if o >= size:
                continue
            out.append((o, min(m, size - o), k))
        self.ext = out
        self.size = size
        self._md5 = None

    def resize(self, size):
        if size < self.size:
            self.truncate(size)
        else:
            self.size = size
            self._md5 = None

    def same(self, other):
        return other is not None and self.size == other.size and _merge(self.ext) == _merge(other.ext)

    def chunks(self, a=0, b=None):
        b = self.size if b is None else min(b, self.size)
        pos = a
        for (o, m, k) in self.ext:
            e = o + m
            if e <= pos or o >= b:
                continue
            if o > pos:
                yield bytes(o - pos)
                pos = o
            while pos < min(e, b):
                n = min(min(e, b) - pos, _SLICE)
                yield gen(k, pos, n)
                pos += n
        if pos < b:
            yield bytes(b - pos)

    def md5(self, a=0, b=None):
        whole = a == 0 and b is None
        if whole and self._md5 is not None:
            return self._md5
        h = hashlib.md5()
        for c in self.chunks(a, b):
            h.update(c)
        if whole:
            self._md5 = h.hexdigest()
            return self._md5
        return h.hexdigest()


def _merge(ext):
    out = []
    for (o, m, k) in sorted(ext):
        if out and out[-1][2] == k and out[-1][0] + out[-1][1] == o:
            out[-1] = (out[-1][0], out[-1][1] + m, k)
        else:
            out.append((o, m, k))
    return out


# ---------------------------------------------------------------------------
# Policy patterns (policy/README.md "Patterns") and profiles
# ---------------------------------------------------------------------------
def glob_match(pattern, vpath):
    """pattern against a vault path without its leading '/'."""
    if pattern.endswith("/"):
        pattern += "**"
    pc = [c for c in pattern.split("/")]
    xc = [c for c in vpath.strip("/").split("/") if c] if vpath.strip("/") else []
    if ".." in xc:
        return False
    memo = {}

    def m(i, j):
        key = (i, j)
        if key in memo:
            return memo[key]
        if i == len(pc):
            r = j == len(xc)
        elif pc[i] == "**":
            r = any(m(i + 1, k) for k in range(j, len(xc) + 1))
        else:
            r = j < len(xc) and fnmatch.fnmatchcase(xc[j], pc[i]) and m(i + 1, j + 1)
        memo[key] = r
        return r
    return m(0, 0)


def classify(profile, vpath):
    """(class, rule) of the first rule matching vpath; no match is seal."""
    for rule in profile["rules"]:
        if glob_match(rule[0], vpath):
            return rule[1], rule
    return "seal", None


def c_strings_of(text, symbol):
    """The concatenated string literals that initialise symbol in C source text."""
    out, i, n, seen = [], 0, len(text), False
    while i < n:
        if text.startswith("/*", i):
            i = text.index("*/", i + 2) + 2
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text[i] == '"':
            j, buf = i + 1, []
            while text[j] != '"':
                if text[j] == "\\":
                    buf.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(text[j + 1], text[j + 1]))
                    j += 2
                else:
                    buf.append(text[j])
                    j += 1
            if seen:
                out.append("".join(buf))
            i = j + 1
        elif text[i] == ";" and seen:
            break
        else:
            if not seen and text.startswith(symbol, i):
                seen = True
                i += len(symbol)
                continue
            i += 1
    return "".join(out)


def parse_profiles_c(path):
    """The built-in profiles as profiles.c defines them, for the drift check."""
    body = c_strings_of(open(path, encoding="utf-8").read(), "policy_builtin_profiles[]")
    profiles, cur = {}, None
    for line in body.splitlines():
        w = line.split()
        if not w:
            continue
        if w[0] == "profile":
            cur = profiles[w[1]] = {"rules": [], "times": "refuse", "chmod": "refuse"}
        elif w[0] == "}":
            cur = None
        elif w[0] == "path":
            opts = dict(o.split("=", 1) for o in w[3:])
            cur["rules"].append((w[1], w[2], opts))
        elif w[0] in ("times", "chmod"):
            cur[w[0]] = w[1]
    return profiles


def parse_size(s):
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    s = str(s)
    if s and s[-1].lower() in mult:
        return int(s[:-1]) * mult[s[-1].lower()]
    return int(s)


# ---------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------
def normpath(p):
    parts = []
    for c in p.split("/"):
        if c in ("", "."):
            continue
        if c == "..":
            if parts:
                parts.pop()
            continue
        parts.append(c)
    return "/" + "/".join(parts)


def parent(p):
    return "/" if p.count("/") <= 1 else p.rsplit("/", 1)[0]


def basename(p):
    return p.rsplit("/", 1)[1]


def rel(p):
    return p.lstrip("/")


def ancestors(p):
    out = []
    while p != "/":
        p = parent(p)
        out.append(p)
    return out


def reserved(p):
    return any(c.startswith(".sealvault") for c in p.split("/") if c)


# ---------------------------------------------------------------------------
# Trace parsing
# ---------------------------------------------------------------------------
class Ev:
    __slots__ = ("n", "line", "sess", "kind", "op", "path", "path2", "flags", "mode", "attrs",
                 "reply", "reqs", "nbytes", "a", "b", "eof", "bread", "bwritten", "cmd", "version",
                 "text", "t")

    def __init__(self, **kw):
        for s in self.__slots__:
            setattr(self, s, kw.get(s))


RX_LINE = re.compile(r"^\s*(?:(\d+\.\d+)s\s+)?(S\d+|SSH)\s+(.*?)\s*$")
RX_AGG = re.compile(r"^(\S+)\s+\[(\d+) reqs, (\d+) bytes, offsets (\d+)\.\.(\d+), (sequential|reads)(, hit EOF)?\]$")
RX_SET = re.compile(r'^set "(.*?)" (mode|size|modtime|uid|gid) (\S+)$')


class TraceError(Exception):
    pass


def parse_time(s):
    return calendar.timegm(time.strptime(s, "%Y%m%d-%H:%M:%S"))


def parse_sets(items, where):
    attrs = {}
    for it in items:
        m = RX_SET.match(it.strip())
        if not m:
            raise TraceError("%s: cannot parse attribute %r" % (where, it))
        k, v = m.group(2), m.group(3)
        if k == "mode":
            attrs["perm"] = int(v, 8) & 0o7777
        elif k == "size":
            attrs["size"] = int(v)
        elif k == "modtime":
            attrs["mtime"] = parse_time(v)
        else:
            attrs[k] = int(v)
    return attrs


def parse_trace(path):
    lines = open(path, encoding="utf-8").read().splitlines()
    m = re.search(r"paths relative to (\S+?)/?\)", lines[0])
    if not m:
        raise TraceError("%s: no 'paths relative to' header" % path)
    base = m.group(1)
    if not (base == SERVER_HOME or base.startswith(SERVER_HOME + "/")):
        raise TraceError("%s: base %s is outside %s" % (path, base, SERVER_HOME))
    base_rel = base[len(SERVER_HOME):] or "/"

    def vp(p):
        if p.startswith("/"):
            if p == SERVER_HOME or p.startswith(SERVER_HOME + "/"):
                return normpath(p[len(SERVER_HOME):])
            raise TraceError("%s: path %s is outside the recorded home" % (path, p))
        return normpath(base_rel + "/" + p)

    evs = []
    now = [None]

    def add(ev):
        ev.t = now[0]
        evs.append(ev)
    for ln, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        m = RX_LINE.match(line)
        if not m:
            raise TraceError("%s:%d: unparsable line" % (path, ln))
        sess, rest = m.group(2), m.group(3)
        tstamp = float(m.group(1)) if m.group(1) else None
        where = "%s:%d" % (os.path.basename(path), ln)
        now[0] = tstamp
        if sess == "SSH":
            mm = re.match(r"^channel request: exec '(.*)'$", rest)
            if mm:
                add(Ev(n=len(evs), line=ln, kind="exec", op="exec", cmd=mm.group(1), reply="ok", text=rest))
            elif rest.startswith("^^^ exec refused"):
                evs[-1].reply = "refused"
            elif rest != "channel request: subsystem sftp":
                raise TraceError("%s: unknown SSH line" % where)
            continue
        if rest.startswith("#"):
            c = rest[1:].strip()
            if c == "session opened":
                add(Ev(n=len(evs), line=ln, sess=sess, kind="sopen", text=c))
            elif c == "session closed":
                add(Ev(n=len(evs), line=ln, sess=sess, kind="sclose", text=c))
            elif c.startswith("received client version"):
                add(Ev(n=len(evs), line=ln, sess=sess, kind="version", version=int(c.split()[-1]), text=c))
            elif "process_extended_get_users_groups_by_id: uids len" in c:
                add(Ev(n=len(evs), line=ln, sess=sess, kind="req", op="users-groups-by-id", reply="ext", text=c))
            continue
        op, _, args = rest.partition(" ")
        args = args.strip()
        reply = None
        if " => " in args:
            args, reply = args.rsplit(" => ", 1)
            args = args.strip()
        ev = Ev(n=len(evs), line=ln, sess=sess, kind="req", op=op, reply=reply, text=rest)
        try:
            if op in ("opendir", "stat", "lstat", "realpath", "remove", "rmdir"):
                ev.path = vp(re.fullmatch(r'"(.*)"', args).group(1))
            elif op == "readdir":
                ev.path = vp(re.fullmatch(r'"(.*)" \(handle \d+\)', args).group(1))
            elif op == "mkdir":
                mm = re.fullmatch(r'"(.*)" mode (\d+)', args)
                ev.path, ev.mode = vp(mm.group(1)), int(mm.group(2), 8) & 0o7777
            elif op == "open":
                mm = re.fullmatch(r'"(.*)" flags (\S+) mode (\d+)', args)
                ev.path, ev.flags = vp(mm.group(1)), set(mm.group(2).split(","))
                # "mode 0666" is what the server shows when the client sent no permissions
                ev.mode = None if mm.group(3) == "0666" else int(mm.group(3), 8)   # sent as recorded
            elif op == "close":
                mm = re.fullmatch(r'closedir "(.*)"', args)
                if mm:
                    ev.path, ev.op = vp(mm.group(1)), "closedir"
                else:
                    mm = re.fullmatch(r'"(.*)" bytes read (\d+) written (\d+)', args)
                    ev.path, ev.bread, ev.bwritten = vp(mm.group(1)), int(mm.group(2)), int(mm.group(3))
            elif op in ("read", "write"):
                mm = RX_AGG.fullmatch(args)
                ev.path = vp(mm.group(1))
                ev.reqs, ev.nbytes, ev.a, ev.b = (int(mm.group(i)) for i in (2, 3, 4, 5))
                ev.eof = bool(mm.group(7))
            elif op == "setstat":
                mm = re.fullmatch(r'name "(.*?)" \| (.*)', args)
                ev.path = vp(mm.group(1))
                ev.attrs = parse_sets(mm.group(2).split(" | "), where)
            elif op == "fsetstat":
                items = args.split(" | ")
                ev.path = vp(re.match(r'set "(.*?)"', items[0]).group(1))
                ev.attrs = parse_sets(items, where)
            elif op == "fsync":
                ev.path = vp(re.fullmatch(r'\(handle \d+\) \| fsync "(.*)"', args).group(1))
            elif op in ("rename", "posix-rename"):
                mm = re.fullmatch(r'old "(.*)" new "(.*)"', args)
                ev.path, ev.path2 = vp(mm.group(1)), vp(mm.group(2))
            elif op == "limits":
                ev.reply = "ext"
            else:
                raise TraceError("%s: unknown request type %r" % (where, op))
        except AttributeError:
            raise TraceError("%s: cannot parse %r" % (where, rest))
        if ev.op not in ("read", "write") and ev.reply is None:
            raise TraceError("%s: no reply recorded" % where)
        add(ev)
    # the bytes a read aggregate returned: the handle's "bytes read" when it is its only one
    aggs = collections.defaultdict(list)
    for ev in evs:
        if ev.kind != "req":
            continue
        k = (ev.sess, ev.path)
        if ev.op == "open":
            aggs[k] = []
        elif ev.op == "read":
            aggs[k].append(ev)
        elif ev.op == "close" and ev.bread is not None:
            reads = aggs.pop(k, [])
            if len(reads) == 1:
                reads[0].bread = ev.bread
    return evs


def map_command(cmd):
    """An exec command as the client would send it to the vault (whose / is the recorded home)."""
    return re.sub(re.escape(SERVER_HOME) + r"(?=/|\s|$)", "", cmd)


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------
class Node:
    __slots__ = ("type", "mode", "content")

    def __init__(self, type_, mode, content=None):
        self.type, self.mode, self.content = type_, mode, content


class MH:
    """A model handle."""
    __slots__ = ("kind", "path", "node", "content", "existed", "mode", "append", "listing", "pos",
                 "readable", "read_total")

    def __init__(self, kind, path, **kw):
        self.kind, self.path = kind, path
        for s in self.__slots__[2:]:
            setattr(self, s, kw.get(s))
        self.read_total = 0


def R(tokens, action=None, note=None):
    return (frozenset([tokens]) if isinstance(tokens, str) else frozenset(tokens), action, note)


class Model:
    """
    vault=False: OpenSSH sftp-server's semantics (the recorded world).
    vault=True: policy/README.md's table with the tool's profile, placed as
    sftp-subsystem/README.md says (a refused re-upload fails at CLOSE, ...).
    Every method returns (acceptable reply tokens, policy action, note) and
    applies the effect. Actions: None, refuse, attic, ignore, compare.
    """

    def __init__(self, vault, profile):
        self.vault, self.prof = vault, profile
        self.nodes = {"/": Node("d", 0o755)}
        self.kids = collections.defaultdict(set)
        self.handles = collections.defaultdict(lambda: collections.defaultdict(list))
        self.partials = collections.Counter()
        self.attic = collections.defaultdict(list)      # vpath -> [(Content, required)]
        self.finished = []                               # (vpath, Content) ever finished (seal/versioned)

    # -- tree ---------------------------------------------------------------
    def get(self, p):
        return self.nodes.get(p)

    def isdir(self, p):
        n = self.nodes.get(p)
        return n is not None and n.type == "d"

    def add(self, p, node):
        self.nodes[p] = node
        self.kids[parent(p)].add(basename(p))

    def delete(self, p):
        del self.nodes[p]
        self.kids[parent(p)].discard(basename(p))

    def move(self, old, new):
        node = self.nodes[old]
        moved = [(old, node)]
        if node.type == "d":
            pre = old + "/"
            moved += [(q, n) for q, n in self.nodes.items() if q.startswith(pre)]
        for q, _ in moved:
            self.delete(q) if q in self.nodes else None
        for q, n in moved:
            self.add(new + q[len(old):], n)

    def seed(self, p, type_, content=None, mode=None):
        for a in reversed(ancestors(p)):
            if a not in self.nodes:
                self.add(a, Node("d", 0o755))
        if p not in self.nodes:
            self.add(p, Node(type_, mode if mode is not None else (0o755 if type_ == "d" else 0o644), content))
            if type_ == "f" and self.vault and self.cls(p) in ("seal", "versioned"):
                self.finished.append((p, content))

    def cls(self, p):
        return classify(self.prof, rel(p))[0] if self.vault else "seal"

    def rule(self, p):
        return classify(self.prof, rel(p))[1]

    def visible(self, d):
        names = sorted(self.kids.get(d, ()))
        if self.vault:
            names = [n for n in names if not reserved(n) and self.cls((d.rstrip("/") + "/" + n)) != "deny"]
        return names

    def gatepath(self, p):
        """The reply for a path the vault refuses whatever the operation, or None."""
        if self.vault and (reserved(p) or self.cls(p) == "deny"):
            return R(REFUSED, "refuse", "reserved or deny")
        return None

    # -- handles --------------------------------------------------------------
    def handle(self, sess, p, kinds):
        for h in reversed(self.handles[sess][p]):
            if h.kind in kinds:
                return h
        return None

    def drop(self, sess, h):
        self.handles[sess][h.path].remove(h)

    def end_session(self, sess):
        # an upload never closed is never published: its partial stays (still in self.partials)
        self.handles.pop(sess, None)

    # -- requests -------------------------------------------------------------
    def stat(self, p):
        g = self.gatepath(p)
        if g:
            return g
        return R("attrs") if p in self.nodes else R("ENOENT")

    def opendir(self, sess, p):
        g = self.gatepath(p)
        if g:
            return g
        n = self.nodes.get(p)
        if n is None or n.type != "d":
            return R("ENOENT")
        self.handles[sess][p].append(MH("dir", p))
        return R("handle")

    def readdir(self, sess, p):
        h = self.handle(sess, p, ("dir",))
        if h is None:
            return None
        if h.listing is None:
            h.listing = 2 + len(self.visible(p))    # "." and ".."
            h.pos = 0
        n = min(100, h.listing - h.pos)
        h.pos += n
        return R("names(%d)" % n) if n else R("EOF")

    def closedir(self, sess, p):
        h = self.handle(sess, p, ("dir",))
        if h is None:
            return None
        self.drop(sess, h)
        return R("OK")

    def mkdir(self, p, mode):
        g = self.gatepath(p)
        if g:
            return g
        if p in self.nodes:
            return R("FAILURE")
        if not self.isdir(parent(p)):
            return R("ENOENT")
        self.add(p, Node("d", ((mode if mode is not None else 0o777) & (0o755 if self.vault else 0o7777))))
        return R("OK")

    def rmdir(self, p):
        if self.vault and (reserved(p) or p == "/"):
            return R(REFUSED, "refuse", "reserved")
        n = self.nodes.get(p)
        if n is None:
            return R("ENOENT")
        if self.vault:
            c = self.cls(p)
            if c in ("seal", "deny"):
                return R(REFUSED, "refuse", "rmdir of a %s directory" % c)
        if n.type != "d":
            return R("ENOENT")
        if self.kids.get(p) or self.partials.get(p):
            return R("FAILURE")
        self.delete(p)
        return R("OK")

    def remove(self, p):
        if self.vault and reserved(p):
            return R(REFUSED, "refuse", "reserved")
        n = self.nodes.get(p)
        if n is None:
            return R("ENOENT") if not self.vault or self.cls(p) != "deny" else R(("ENOENT", "PERM"))
        if self.vault:
            c = self.cls(p)
            if c == "deny":
                return R(REFUSED, "refuse", "deny")
            if n.type == "d":
                # SFTP REMOVE is for files; OpenSSH says FAILURE and clients
                # (pgBackRest) recurse on that. A sealed one may say PERM too.
                return R(("FAILURE", "PERM") if c == "seal" else "FAILURE")
            if c == "seal":
                return R(REFUSED, "refuse", "remove of a sealed file")
            if c == "versioned":
                self.attic[p].append((n.content, True))
                self.delete(p)
                return R("OK", "attic", "removed into the attic")
            self.delete(p)
            return R("OK")
        if n.type == "d":
            return R("FAILURE")
        self.delete(p)
        return R("OK")

    def open(self, sess, p, flags, mode, key):
        g = self.gatepath(p)
        if g:
            return g
        n = self.nodes.get(p)
        write = bool(flags & {"WRITE", "APPEND", "TRUNCATE"})
        pmode = (mode if mode is not None else 0o666) & 0o777
        if n is not None:
            if "CREATE" in flags and "EXCL" in flags:
                return R("FAILURE")
            if n.type == "d":
                return R("FAILURE") if write else R("handle")
            if not write:
                self.handles[sess][p].append(MH("read", p, node=n))
                return R("handle")
            if not self.vault:
                if "TRUNCATE" in flags:
                    n.content.truncate(0)
                self.handles[sess][p].append(MH("write", p, node=n, append="APPEND" in flags))
                return R("handle")
            c = self.cls(p)
            if c in ("seal", "versioned"):
                if "APPEND" in flags:
                    return R(REFUSED, "refuse", "append to a %s file" % c)
                if "WRITE" not in flags:
                    return R(REFUSED, "refuse", "truncate of a %s file" % c)
                content = Content()     # a re-upload: a fresh partial, compared/replaced at CLOSE
            else:
                content = Content() if "TRUNCATE" in flags else n.content.copy()
            self.partials[parent(p)] += 1
            self.handles[sess][p].append(MH("upload", p, content=content, existed=True,
                                            mode=pmode & 0o755, append="APPEND" in flags))
            return R("handle")
        if "CREATE" not in flags:
            return R("ENOENT")
        if not self.isdir(parent(p)):
            return R("ENOENT")
        if not self.vault:
            node = Node("f", pmode & 0o7777, Content())
            self.add(p, node)
            self.handles[sess][p].append(MH("write", p, node=node, append="APPEND" in flags))
            return R("handle")
        rule = self.rule(p)
        if rule is not None and rule[1] == "mutable" and "max-files" in rule[2]:
            held = sum(1 for k in self.kids.get(parent(p), ()) if self.rule(parent(p) + "/" + k) is rule)
            if held >= int(rule[2]["max-files"]):
                return R(REFUSED, "refuse", "max-files")
        self.partials[parent(p)] += 1
        self.handles[sess][p].append(MH("upload", p, content=Content(), existed=False,
                                        mode=pmode & 0o755, append="APPEND" in flags))
        return R("handle")

    def _wh(self, sess, p):
        return self.handle(sess, p, ("upload", "write", "read"))

    def write(self, sess, p, off, n, key):
        h = self._wh(sess, p)
        if h is None:
            return None
        if h.kind == "read":
            return R("PERM" if self.vault else "FAILURE")
        c = h.content if h.kind == "upload" else h.node.content
        if h.append:
            off = c.size
        c.write(off, n, key)
        return R("OK")

    def read(self, sess, p, a, b):
        """(bytes returned, hit EOF, Content) for a sequential read of [a, b)."""
        h = self._wh(sess, p)
        if h is None:
            return None
        c = h.node.content if h.kind in ("read", "write") else h.content
        got = max(0, min(b, c.size) - a)
        h.read_total += got
        return (got, c.size < b, c)

    def fsync(self, sess, p):
        return R("OK") if self._wh(sess, p) is not None else None

    def _setattrs(self, p, node, attrs, finished):
        """SETSTAT rules: a refusal wins, then an ignore (policy/README.md table)."""
        c = self.cls(p) if self.vault else "temp"
        acts, apply = [], {}
        if "uid" in attrs or "gid" in attrs:
            acts.append("refuse")
        if "size" in attrs and node.type == "f" and attrs["size"] != node.content.size:
            if not self.vault or not finished or c in ("temp", "mutable"):
                apply["size"] = attrs["size"]
            else:
                acts.append("refuse")
        if "perm" in attrs and (attrs["perm"] & 0o7777) != node.mode:
            new, old = attrs["perm"] & 0o7777, node.mode
            narrow = node.type == "f" and (new & ~old) == 0 and ((old & ~new) & ~0o222) == 0
            if not self.vault or not finished or narrow or c in ("temp", "mutable"):
                apply["perm"] = new & (0o755 if self.vault else 0o7777)
            else:
                acts.append("ignore" if self.prof["chmod"] == "ignore" else "refuse")
        if "mtime" in attrs:
            if self.vault and finished and c in ("seal", "versioned"):
                acts.append("ignore" if self.prof["times"] == "ignore" else "refuse")
        if "refuse" in acts:
            return R(REFUSED, "refuse", "setstat of a finished %s file" % c)
        if "size" in apply:
            node.content.truncate(apply["size"])
        if "perm" in apply:
            node.mode = apply["perm"]
        if "ignore" in acts:
            return R("OK", "ignore", "answered OK without effect")
        return R("OK")

    def setstat(self, p, attrs):
        g = self.gatepath(p)
        if g:
            return g
        n = self.nodes.get(p)
        if n is None:
            return R("ENOENT")
        return self._setattrs(p, n, attrs, True)

    def fsetstat(self, sess, p, attrs):
        h = self._wh(sess, p)
        if h is None:
            return None
        if h.kind == "upload":
            if "uid" in attrs or "gid" in attrs:
                return R(REFUSED, "refuse", "chown")
            if "size" in attrs:
                h.content.resize(attrs["size"])
            if "perm" in attrs:
                h.mode = attrs["perm"] & 0o755
            return R("OK")
        return self._setattrs(p, h.node, attrs, True)

    def close(self, sess, p):
        h = self._wh(sess, p)
        if h is None:
            return None
        self.drop(sess, h)
        if h.kind != "upload":
            return R("OK")
        self.partials[parent(p)] -= 1
        new = h.content
        cur = self.nodes.get(p)
        c = self.cls(p)
        rule = self.rule(p)
        if rule is not None and rule[1] == "mutable" and "max-size" in rule[2] and \
                new.size > parse_size(rule[2]["max-size"]):
            return R(REFUSED, "refuse", "max-size")
        if cur is None:
            self.add(p, Node("f", h.mode, new))
            if c in ("seal", "versioned"):
                self.finished.append((p, new))
            return R("OK")
        if cur.type == "d":
            return R("FAILURE")
        if c == "seal":
            if new.same(cur.content):
                return R("OK", "compare", "identical re-upload")
            return R(REFUSED, "refuse", "re-upload of a sealed file with other content")
        if c == "versioned":
            self.attic[p].append((cur.content, not new.same(cur.content)))
            cur.content, cur.mode = new, h.mode
            self.finished.append((p, new))
            return R("OK", "attic", "replaced, the old version into the attic")
        cur.content, cur.mode = new, h.mode
        return R("OK")

    def rename(self, old, new, posix):
        if not self.vault:
            n = self.nodes.get(old)
            if n is None:
                return R("ENOENT")
            if not self.isdir(parent(new)):
                return R("ENOENT")
            t = self.nodes.get(new)
            if t is not None:
                if not posix or t.type == "d":
                    return R("FAILURE")
                self.delete(new)
            self.move(old, new)
            return R("OK")
        if reserved(old) or reserved(new):
            return R(REFUSED, "refuse", "reserved")
        n = self.nodes.get(old)
        co, cn = self.cls(old), self.cls(new)
        if n is None:
            return R(("ENOENT", "PERM") if co != "temp" else "ENOENT")
        if co != "temp" or n.type != "f":
            return R(REFUSED, "refuse", "rename from a %s %s" % (co, "file" if n.type == "f" else "directory"))
        if cn == "deny":
            return R(REFUSED, "refuse", "rename onto a deny path")
        if not self.isdir(parent(new)):
            return R("ENOENT")
        t = self.nodes.get(new)
        if t is not None:
            if not posix or t.type == "d":
                return R("FAILURE")     # SSH_FXP_RENAME never replaces (v3, as OpenSSH)
            if cn == "seal":
                return R(REFUSED, "refuse", "rename onto a sealed file")
            action = None
            if cn == "versioned":
                self.attic[new].append((t.content, True))
                action = "attic"
            self.delete(new)
            self.move(old, new)
            if cn in ("seal", "versioned"):
                self.finished.append((new, n.content))
            return R("OK", action, "replaced, the old version into the attic" if action else None)
        self.move(old, new)
        if cn in ("seal", "versioned"):
            self.finished.append((new, n.content))
        return R("OK")

    def hashcmd(self, cmd):
        """(exit status, stdout) the vault's md5sum/sha1sum gives, per sftp-subsystem/README.md."""
        w = cmd.split()
        if not w or w[0] not in ("md5sum", "sha1sum") or len(w) > 2 or (len(w) == 2 and w[1].startswith("-")):
            return ("refused", None)
        if len(w) == 1:
            h = hashlib.md5() if w[0] == "md5sum" else hashlib.sha1()
            return ("ok", "%s  -\n" % h.hexdigest())
        p = normpath(w[1])
        n = self.nodes.get(p)
        if reserved(p) or self.cls(p) == "deny" or n is None or n.type != "f":
            return ("refused", None)
        if w[0] == "md5sum":
            return ("ok", "%s  %s\n" % (n.content.md5(), w[1]))
        h = hashlib.sha1()
        for c in n.content.chunks():
            h.update(c)
        return ("ok", "%s  %s\n" % (h.hexdigest(), w[1]))


# ---------------------------------------------------------------------------
# Seeding: the recorded server's state before the trace
# ---------------------------------------------------------------------------
FILL = "zz-seed-fill-%03d"
REORDER_WINDOW = 0.030     # seconds: how far the merged order across sessions may be off
DEFAULT_SIZE = 4096


def infer_seed(evs, decl):
    """
    Pass over the recorded replies: any path the trace shows as existing
    before it created it existed at the start. Returns {path: [type, size]}.
    """
    st = {}          # path -> "f" | "d" | "?" | None (absent)
    seed = {}
    # Created in the trace by something that proves the name was free (mkdir
    # OK, an exclusive create) with nothing removed there before: not seeded,
    # even if another session seems to use it earlier (cross-session order).
    # A file uploaded in the trace that another session seems to use a few ms
    # before the upload: the other session's request came after it.
    born, dead, upload = set(), set(), {}
    for e in evs:
        if e.kind != "req":
            continue
        if e.op in ("rmdir", "remove", "rename", "posix-rename") and e.reply == "OK":
            dead.add(e.path)
        elif e.path not in dead and e.reply in ("OK", "handle") and (
                e.op == "mkdir" or (e.op == "open" and {"CREATE", "EXCL"} <= e.flags)):
            born.add(e.path)
        elif e.path not in dead and e.op == "open" and e.reply == "handle" and "CREATE" in e.flags:
            upload.setdefault(e.path, e)
    cur = [None]

    def born_here(p):
        if p in born:
            return True
        u, e = upload.get(p), cur[0]
        return (u is not None and e is not None and e.n < u.n and e.sess != u.sess and
                (e.t is None or u.t is None or u.t - e.t <= REORDER_WINDOW))

    def exists(p, t):
        for a in ancestors(p):
            if a in born:
                st.setdefault(a, "d")
            elif st.get(a) in (None, "?", "f") and a not in st:
                st[a] = "d"
                seed[a] = ["d", None]
            elif st.get(a) == "?":
                st[a] = "d"
                if a in seed:
                    seed[a][0] = "d"
        if p not in st:
            st[p] = t
            if not born_here(p):
                seed[p] = [t, None]
        elif st[p] == "?" and t != "?":
            st[p] = t
            if p in seed:
                seed[p][0] = t

    def absent(p):
        if p not in st:
            st[p] = None

    def gone(p):
        for q in [q for q in st if q == p or q.startswith(p + "/")]:
            st[q] = None

    for e in evs:
        if e.kind != "req":
            continue
        cur[0] = e
        r, p = e.reply, e.path
        if e.op in ("stat", "lstat", "setstat"):
            (exists(p, "?") if r in ("attrs", "OK") else absent(p) if r == "ENOENT" else None)
        elif e.op == "opendir":
            (exists(p, "d") if r == "handle" else absent(p) if r == "ENOENT" else None)
        elif e.op == "open":
            if r == "handle":
                if "CREATE" in e.flags:
                    exists(parent(p), "d")
                    if "EXCL" in e.flags:
                        absent(p)
                    if p not in st or st[p] is None:
                        st[p] = "f"     # created (or reused) here
                else:
                    exists(p, "f")
            elif r == "ENOENT":
                (absent(p) if "CREATE" not in e.flags else absent(parent(p)))
        elif e.op == "mkdir":
            if r == "OK":
                exists(parent(p), "d")
                absent(p)
                st[p] = "d"
            elif r == "FAILURE":
                exists(p, "d")
            elif r == "ENOENT":
                absent(parent(p))
        elif e.op == "rmdir":
            if r == "OK":
                exists(p, "d")
                gone(p)
            elif r == "ENOENT":
                absent(p)
        elif e.op == "remove":
            if r == "OK":
                exists(p, "f")
                gone(p)
            elif r == "FAILURE":
                exists(p, "d")
            elif r == "ENOENT":
                absent(p)
        elif e.op in ("rename", "posix-rename"):
            if r == "OK":
                exists(p, "f")
                exists(parent(e.path2), "d")
                if e.op == "rename":
                    absent(e.path2)
                t = st.get(p)
                gone(p)
                st[e.path2] = t
            elif r == "FAILURE":
                exists(p, "f")
                if e.op == "rename":
                    exists(e.path2, "f")
            elif r == "ENOENT":
                absent(p)
    for p in [p for p in seed if any(a in born for a in ancestors(p))]:
        del seed[p]     # under a directory the trace creates: seen early through another session
    for p, v in seed.items():
        if v[0] == "?":
            v[0] = "d" if any(q.startswith(p + "/") for q in seed) else "f"
    # declared pre-existing files (a declared size says the file was there too)
    for p in list(decl.get("preexisting", [])) + list(decl.get("sizes", {})):
        vpath = normpath("/" + p)
        if vpath not in seed:
            seed[vpath] = ["f", None]
            for a in ancestors(vpath):
                if a != "/" and a not in seed and st.get(a) is None and a not in st:
                    seed[a] = ["d", None]
    seed.pop("/", None)
    # sizes: reads (a + bytes read), writes that continue a file, uploads that replace it
    open_reads = collections.defaultdict(list)
    destroyed = set()   # removed or renamed away before: an upload there is a new file
    for e in evs:
        if e.kind != "req":
            continue
        key = (e.sess, e.path)
        if e.op in ("remove", "rename", "posix-rename") and e.reply == "OK":
            destroyed.add(e.path)
        if e.op == "open" and e.reply == "handle":
            if e.path in destroyed:
                continue
            open_reads[key].append([e, []])
        elif e.op in ("read", "write") and open_reads.get(key):
            open_reads[key][-1][1].append(e)
        elif e.op == "close" and open_reads.get(key):
            o, aggs = open_reads[key].pop()
            s = seed.get(e.path)
            if s is None or s[0] != "f" or s[1] is not None:
                continue
            reads = [a for a in aggs if a.op == "read"]
            writes = [a for a in aggs if a.op == "write"]
            if reads:
                a0 = min(a.a for a in reads)
                if any(a.eof for a in reads) or e.bread < sum(a.b - a.a for a in reads):
                    s[1] = a0 + e.bread
                else:
                    s[1] = max(a.b for a in reads)
            elif writes and "TRUNCATE" not in o.flags and min(w.a for w in writes) > 0:
                s[1] = min(w.a for w in writes)     # a resumed upload continues at the size
            elif writes and "EXCL" not in o.flags:
                s[1] = max(w.b for w in writes)     # a re-upload: same bytes unless declared changed
    for p, s in seed.items():
        if s[0] == "f" and s[1] is None:
            s[1] = DEFAULT_SIZE
    for p, size in decl.get("sizes", {}).items():
        seed[normpath("/" + p)][1] = size
    return seed


def build_model(vault, profile, seed, fills, absent=()):
    m = Model(vault, profile)
    for p in sorted(seed, key=lambda q: (q.count("/"), q)):
        t, size = seed[p]
        if vault and p in absent:
            continue
        m.seed(p, t, Content.synth(p + "#0", size) if t == "f" else None)
    for d, n in fills.items():
        for i in range(n):
            p = (d.rstrip("/") + "/" + FILL % i)
            m.seed(p, "f", Content.synth(p + "#0", 100))
    return m


def predict(m, e):
    """What the recorded world (model m) answers to e, without changing it; None: cannot tell."""
    p, r = e.path, e.reply
    if e.kind == "exec":
        w = e.cmd.split()
        if len(w) == 2 and w[0] in ("md5sum", "sha1sum"):
            n = m.get(normpath(map_command(w[1])))
            return "ok" if n is not None and n.type == "f" else "refused"
        return None
    if e.kind != "req":
        return None
    n = m.get(p) if p else None
    op = e.op
    if op in ("stat", "lstat"):
        return "attrs" if n else "ENOENT"
    if op == "setstat":
        return "OK" if n else "ENOENT"
    if op == "opendir":
        return "handle" if n and n.type == "d" else "ENOENT"
    if op == "open":
        if "CREATE" in e.flags:
            if n is not None:
                return "FAILURE" if "EXCL" in e.flags else "handle"
            return "handle" if m.isdir(parent(p)) else "ENOENT"
        return "handle" if n else "ENOENT"
    if op == "mkdir":
        return "FAILURE" if n else ("OK" if m.isdir(parent(p)) else "ENOENT")
    if op == "rmdir":
        return "ENOENT" if not n else ("FAILURE" if m.kids.get(p) else "OK")
    if op == "remove":
        return "ENOENT" if not n else ("FAILURE" if n.type == "d" else "OK")
    if op in ("rename", "posix-rename"):
        if not n or not m.isdir(parent(e.path2)):
            return "ENOENT"
        t = m.get(e.path2)
        return "FAILURE" if t is not None and (op == "rename" or t.type == "d") else "OK"
    return None


def reorder(evs, profile, seed):
    """
    The merged order of a trace is exact within a session but only
    approximate across sessions (rclone: up to ~10 ms). Emit the events in
    that order, except that an event the recorded world cannot have answered
    as recorded yet waits while later events of other sessions (the next of
    their session each, within the window) that can be answered as recorded
    go first. The result is a causally consistent order.
    """
    m = build_model(False, profile, seed, {})
    sim = Simulator(m)
    pending = list(evs)
    out = []

    def emit(e):
        out.append(e)
        if e.kind == "req":
            sim.apply(e)
        elif e.kind == "sclose":
            m.end_session(e.sess)

    def ok(e):
        want = predict(m, e)
        if want is not None and want != e.reply:
            return False
        # clients use a file by path only after its upload is closed (rclone: close,
        # setstat, stat, md5sum); OpenSSH shows it from the open, the vault from the close
        p = e.path if e.kind == "req" else (normpath(map_command(e.cmd.split()[-1])) if e.kind == "exec" else None)
        if p is not None and e.op in ("stat", "lstat", "setstat", "exec") and e.reply in ("attrs", "OK", "ok"):
            for s2, hs in m.handles.items():
                if s2 != e.sess and any(h.kind == "write" for h in hs.get(p, ())):
                    return False
        return True

    def chan(e):
        return e.sess if e.kind != "exec" else "exec"

    moved = 0
    while pending:
        e = pending.pop(0)
        if ok(e):
            emit(e)
            continue
        blocked = {chan(e)}
        j = 0
        while j < len(pending) and j < 400:
            e2 = pending[j]
            if e2.t is not None and e.t is not None and e2.t - e.t > REORDER_WINDOW:
                break
            if e2.t is None and j >= 60:
                break
            c = chan(e2)
            if c in blocked:
                j += 1
                continue
            if e2.kind == "req" or e2.kind == "exec":
                if not ok(e2) or predict(m, e2) is None and e2.kind == "exec":
                    blocked.add(c)
                    j += 1
                    continue
            emit(pending.pop(j))
            moved += 1
            if ok(e):
                break
            j = 0
            blocked = {chan(e)}
            # restart the scan: the emitted event may unblock earlier ones
        emit(e)
    return out, moved


def infer_fills(evs, profile, seed):
    """Entries a listing counted that the trace never names: fill them in."""
    m = build_model(False, profile, seed, {})
    fills = {}
    sim = Simulator(m)
    totals = collections.defaultdict(int)
    for e in evs:
        if e.kind != "req":
            if e.kind == "sclose":
                m.end_session(e.sess)
            continue
        if e.op == "readdir":
            k = (e.sess, e.path)
            if e.reply.startswith("names("):
                totals[k] += int(e.reply[6:-1])
            elif e.reply == "EOF" and k in totals:
                h = m.handle(e.sess, e.path, ("dir",))
                have = 2 + len(m.visible(e.path))
                if e.path not in fills and totals[k] > have:
                    fills[e.path] = totals[k] - have
                    for i in range(fills[e.path]):
                        p = e.path.rstrip("/") + "/" + FILL % i
                        m.seed(p, "f", Content.synth(p + "#0", 100))
                elif e.path not in fills:
                    fills[e.path] = 0
                del totals[k]
                if h is not None:
                    h.listing = None
            continue
        if e.op == "opendir":
            totals.pop((e.sess, e.path), None)
        sim.apply(e)
    return {d: n for d, n in fills.items() if n}


class Simulator:
    """Drives one model with trace events (no live server)."""

    def __init__(self, model):
        self.m = model

    def apply(self, e, key=None):
        m, p, s = self.m, e.path, e.sess
        op = e.op
        if op in ("stat", "lstat"):
            return m.stat(p)
        if op == "opendir":
            return m.opendir(s, p)
        if op == "readdir":
            return m.readdir(s, p)
        if op == "closedir":
            return m.closedir(s, p)
        if op == "mkdir":
            return m.mkdir(p, e.mode)
        if op == "rmdir":
            return m.rmdir(p)
        if op == "remove":
            return m.remove(p)
        if op == "open":
            return m.open(s, p, e.flags, e.mode, key)
        if op == "write":
            return m.write(s, p, e.a, e.b - e.a, key)
        if op == "read":
            return m.read(s, p, e.a, e.b)
        if op == "fsync":
            return m.fsync(s, p)
        if op == "setstat":
            return m.setstat(p, e.attrs)
        if op == "fsetstat":
            return m.fsetstat(s, p, e.attrs)
        if op == "close":
            return m.close(s, p)
        if op in ("rename", "posix-rename"):
            return m.rename(p, e.path2, op == "posix-rename")
        if op == "realpath":
            return R("names(1)")
        if op in ("limits", "users-groups-by-id"):
            return R("ext")
        raise TraceError("no model for %s" % op)


# ---------------------------------------------------------------------------
# The live side: vault-sftp over pipes
# ---------------------------------------------------------------------------
def u32(v):
    return struct.pack(">I", v)


def u64(v):
    return struct.pack(">Q", v)


def sstr(b):
    if isinstance(b, str):
        b = b.encode()
    return u32(len(b)) + b


def enc_attrs(a):
    flags, body = 0, b""
    if a is None:
        return u32(0)
    if "size" in a:
        flags |= A_SIZE
        body += u64(a["size"])
    if "uid" in a or "gid" in a:
        flags |= A_UIDGID
        body += u32(a.get("uid", 0)) + u32(a.get("gid", 0))
    if "perm" in a:
        flags |= A_PERM
        body += u32(a["perm"])
    if "mtime" in a:
        flags |= A_TIME
        body += u32(a.get("atime", a["mtime"])) + u32(a["mtime"])
    return u32(flags) + body


class ServerGone(Exception):
    pass


class Live:
    """One vault-sftp process = one recorded SFTP session."""
    TIMEOUT = 30

    def __init__(self, argv, env, log, version):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                  env=env, bufsize=0)
        self.inb = bytearray()
        self.nid = 0
        self.replies = {}
        self.handles = collections.defaultdict(list)    # path -> [handle bytes]
        self.dirs = collections.defaultdict(list)
        self._send_raw(bytes([INIT]) + u32(version))
        t, body = self._recv_packet()
        if t != VERSION:
            raise ServerGone("no VERSION reply to INIT")
        self.version = struct.unpack(">I", body[:4])[0]
        self.exts = {}
        b = body[4:]
        while b:
            n = struct.unpack(">I", b[:4])[0]
            name = b[4:4 + n].decode()
            b = b[4 + n:]
            n = struct.unpack(">I", b[:4])[0]
            self.exts[name] = b[4:4 + n].decode()
            b = b[4 + n:]

    def _send_raw(self, payload):
        data = memoryview(u32(len(payload)) + payload)
        try:
            while data:
                data = data[self.p.stdin.write(data):]     # a raw pipe may take part of it
        except (BrokenPipeError, OSError):
            raise ServerGone("vault-sftp closed its input")

    def _fill(self, n):
        fd = self.p.stdout.fileno()
        deadline = time.monotonic() + self.TIMEOUT
        while len(self.inb) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ServerGone("no reply from vault-sftp within %d s" % self.TIMEOUT)
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise ServerGone("vault-sftp closed its output (exit %s)" % self.p.poll())
                self.inb += chunk

    def _recv_packet(self):
        self._fill(4)
        n = struct.unpack(">I", self.inb[:4])[0]
        self._fill(4 + n)
        pkt = bytes(self.inb[4:4 + n])
        del self.inb[:4 + n]
        return pkt[0], pkt[1:]

    def send(self, t, payload):
        self.nid = (self.nid + 1) & 0xFFFFFFFF
        self._send_raw(bytes([t]) + u32(self.nid) + payload)
        return self.nid

    def recv(self, rid):
        while rid not in self.replies:
            t, body = self._recv_packet()
            self.replies[struct.unpack(">I", body[:4])[0]] = (t, body[4:])
        return self.replies.pop(rid)

    def call(self, t, payload):
        return decode(*self.recv(self.send(t, payload)))

    def ext(self, name, payload=b""):
        return self.call(EXTENDED, sstr(name) + payload)

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            rest = self.p.stdout.read()
        except OSError:
            rest = b""
        try:
            rc = self.p.wait(timeout=self.TIMEOUT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            rc = "timeout"
        return rc, rest


def dec_attrs(b):
    """flags, size, perm of an SFTP v3 ATTRS block."""
    flags = struct.unpack(">I", b[:4])[0]
    i, size, perm = 4, None, None
    if flags & A_SIZE:
        size = struct.unpack(">Q", b[i:i + 8])[0]
        i += 8
    if flags & A_UIDGID:
        i += 8
    if flags & A_PERM:
        perm = struct.unpack(">I", b[i:i + 4])[0]
    return flags, size, perm


def decode(t, body):
    """(token, value) of a reply."""
    if t == STATUS:
        code = struct.unpack(">I", body[:4])[0]
        msg = ""
        if len(body) >= 8:
            n = struct.unpack(">I", body[4:8])[0]
            msg = body[8:8 + n].decode(errors="replace")
        return STATUS_TOKEN.get(code, "STATUS%d" % code), msg
    if t == HANDLE:
        n = struct.unpack(">I", body[:4])[0]
        return "handle", body[4:4 + n]
    if t == DATA:
        n = struct.unpack(">I", body[:4])[0]
        return "data", body[4:4 + n]
    if t == NAME:
        return "names(%d)" % struct.unpack(">I", body[:4])[0], None
    if t == ATTRS:
        return "attrs", body
    if t == EXTENDED_REPLY:
        return "ext", body
    return "type%d" % t, body


# ---------------------------------------------------------------------------
# One trace
# ---------------------------------------------------------------------------
class Result:
    def __init__(self, name):
        self.name = name
        self.fail = []
        self.notes = []
        self.counts = collections.Counter()

    def F(self, kind, where, msg):
        self.fail.append("FAIL %s %s %s: %s" % (self.name, where, kind, msg))

    def N(self, where, msg):
        self.notes.append("note %s %s: %s" % (self.name, where, msg))


def sel_match(sel, e):
    cat, op, pat = sel[0], sel[1], sel[2]
    if e.op == "exec" or op == "exec":
        return op == e.op and fnmatch.fnmatchcase(e.cmd, pat)
    ops = {e.op}
    if e.op == "closedir":
        ops.add("close")
    if op not in ops and op != "*":
        return False
    return glob_match(pat, rel(e.path)) or (e.path2 is not None and glob_match(pat, rel(e.path2)))


class Replay:
    def __init__(self, args, trace, tool, scen):
        self.args, self.trace, self.tool, self.scen = args, trace, tool, scen
        self.name = os.path.basename(trace)[:-len(".ops.txt")]
        self.res = Result(self.name)
        self.decl = X.SCENARIOS.get(self.name, {})
        self.profile = X.PROFILES[X.TOOL_PROFILE[tool]]
        self.sels = [tuple(s) for s in self.decl.get("expect", [])]
        self.used = collections.Counter()

    # -- setup ------------------------------------------------------------------
    def setup(self):
        evs = parse_trace(self.trace)
        self.seed = infer_seed(evs, self.decl)
        self.evs, moved = reorder(evs, self.profile, self.seed)
        self.seed = infer_seed(self.evs, self.decl)
        self.evs, moved = reorder(evs, self.profile, self.seed)
        self.seed = infer_seed(self.evs, self.decl)
        self.res.counts["moved"] = moved
        self.fills = infer_fills(self.evs, self.profile, self.seed)
        self.absent = {normpath("/" + p) for p in self.decl.get("absent_in_vault", [])}
        self.changed = self.decl.get("changed", [])
        self.rm = build_model(False, self.profile, self.seed, self.fills)
        self.vm = build_model(True, self.profile, self.seed, self.fills, self.absent)
        self.tmp = tempfile.mkdtemp(prefix="sealvault-replay-%s-" % self.name)
        self.root = os.path.join(self.tmp, "root")
        os.mkdir(self.root, 0o755)
        for p in sorted(self.vm.nodes, key=lambda q: (q.count("/"), q)):
            if p == "/":
                continue
            n = self.vm.nodes[p]
            fs = os.path.join(self.root, rel(p))
            if n.type == "d":
                os.mkdir(fs, n.mode)
            else:
                with open(fs, "wb") as f:
                    for c in n.content.chunks():
                        f.write(c)
                os.chmod(fs, n.mode)
        user = __import__("pwd").getpwuid(os.getuid()).pw_name
        self.conf = os.path.join(self.tmp, "vault.conf")
        with open(self.conf, "w") as f:
            f.write("# generated by tests/trace-replay/replay.py for %s\n" % self.name)
            f.write("tenant replay {\n\tuser %s\n\troot %s\n\tprofile %s\n}\n" %
                    (user, self.root, X.TOOL_PROFILE[self.tool]))
        self.log = open(os.path.join(self.tmp, "vault-sftp.log"), "wb")
        self.argv = [self.args.vault_sftp, "--config", self.conf, "--tenant", "replay", "--log-stderr",
                     "--log-level", "info"]
        self.env = {k: v for k, v in os.environ.items() if k != "SSH_ORIGINAL_COMMAND"}
        self.lives = {}
        self.versions = {}
        self.keys = {}      # (sess, path) -> [content key] per open upload, for the models

    def cleanup(self):
        for s, lv in list(self.lives.items()):
            lv.close()
        self.log.close()
        if self.args.keep:
            print("kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def live(self, sess):
        lv = self.lives.get(sess)
        if lv is None:
            lv = self.lives[sess] = Live(self.argv, self.env, self.log, self.versions.get(sess, 3))
            want = "posix-rename@openssh.com" in lv.exts
            has_temp = any(r[1] == "temp" for r in self.profile["rules"])
            if want != has_temp:
                self.res.F("DEVIATION", sess, "posix-rename@openssh.com advertised=%s, but the profile "
                           "%s a temp class" % (want, "has" if has_temp else "has no"))
            if lv.version != 3:
                self.res.F("DEVIATION", sess, "VERSION %d, expected 3" % lv.version)
        return lv

    def end_session(self, sess):
        lv = self.lives.pop(sess, None)
        self.rm.end_session(sess)
        self.vm.end_session(sess)
        if lv is not None:
            rc, rest = lv.close()
            if rc != 0:
                self.res.F("PROCESS", sess, "vault-sftp exited %s at the end of the session" % rc)

    # -- judging ----------------------------------------------------------------
    def diverged(self, paths):
        for p in paths:
            a, b = self.rm.nodes.get(p), self.vm.nodes.get(p)
            if (a is None) != (b is None):
                return True
            if a is not None and (a.type != b.type or (a.type == "f" and not a.content.same(b.content))):
                return True
        return False

    def involved(self, e):
        ps = []
        for p in (e.path, e.path2):
            if p is None:
                continue
            ps += [p, parent(p)]
            if e.op in ("readdir", "rmdir"):
                d = p.rstrip("/")
                ps += [d + "/" + k for k in self.rm.kids.get(p, set()) | self.vm.kids.get(p, set())]
        return ps

    def judge(self, e, rec, rx, vx, live, before_div, extra=""):
        """rec: recorded token; rx/vx: R and V model results; live: live token (None: not sent)."""
        res = self.res
        where = "line %d" % e.line
        desc = "%s %s%s" % (e.op, rel(e.path) if e.path else (e.cmd or ""),
                            (" -> " + rel(e.path2)) if e.path2 else "")
        res.counts["requests"] += 1
        vtoks, action, why = vx if vx is not None else (None, None, None)
        # 1. the vault against the policy model
        if vtoks is not None and live is not None and live not in vtoks:
            res.F("DEVIATION", where, "%s: expected %s (%s), vault answered %s%s" %
                  (desc, "|".join(sorted(vtoks)), why or "policy/README.md", live, extra))
        # 2. the policy model against the recording
        anomaly = rx is not None and rec not in rx[0]
        if anomaly:
            res.counts["anomalies"] += 1
            res.N(where, "%s: recorded %s, but the recorded world (R model) says %s: trace order/seed "
                  "inconsistency" % (desc, rec, "|".join(sorted(rx[0]))))
        matched = [s for s in self.sels if sel_match(s, e)]
        if action is not None:
            ok = [s for s in matched if s[0] == action]
            if ok:
                for s in ok:
                    self.used[s] += 1
                res.counts[action] += 1
            elif matched:
                res.F("TABLE", where, "%s: declared %s, but the policy gives %s (%s)" %
                      (desc, "/".join(s[0] for s in matched), action, why))
            else:
                res.F("UNDECLARED", where, "%s: the policy acts here (%s: %s) and expectations.py does "
                      "not declare it" % (desc, action, why))
            return
        if vtoks is None:
            res.counts["skipped"] += 1
            return
        if rec in vtoks:
            res.counts["as recorded"] += 1
            return
        an = [s for s in matched if s[0] in ("anomaly", "differs")]
        if an:
            for s in an:
                self.used[s] += 1
            res.counts["anomalies" if an[0][0] == "anomaly" else "differs"] += 1
            return
        if before_div:
            res.counts["consequences"] += 1
            if self.args.verbose:
                res.N(where, "%s: recorded %s, vault world %s (consequence)" % (desc, rec, "|".join(sorted(vtoks))))
            return
        if anomaly:
            return
        res.F("UNDECLARED", where, "%s: recorded %s, but under the policy %s; a normal request must get "
              "the recorded reply" % (desc, rec, "|".join(sorted(vtoks))))

    # -- replay -----------------------------------------------------------------
    def content_key(self, e):
        version = 1 if any(glob_match(c, rel(e.path)) for c in self.changed) else 0
        return "%s#%d" % (e.path, version)

    def run(self):
        for e in self.evs:
            if e.kind == "version":
                self.versions[e.sess] = e.version
                continue
            if e.kind == "sopen":
                continue
            if e.kind == "sclose":
                self.end_session(e.sess)
                continue
            if e.kind == "exec":
                self.do_exec(e)
                continue
            try:
                self.do_request(e)
            except ServerGone as ex:
                self.res.F("PROCESS", "line %d" % e.line, "%s: %s" % (e.op, ex))
                lv = self.lives.pop(e.sess, None)
                if lv:
                    lv.p.kill()
                    lv.p.wait()
                return
        for s in list(self.lives):
            self.end_session(s)

    def do_exec(self, e):
        cmd = map_command(e.cmd)
        vx = self.vm.hashcmd(cmd)
        env = dict(self.env, SSH_ORIGINAL_COMMAND=cmd)
        p = subprocess.run(self.argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        live = "ok" if p.returncode == 0 else "refused"
        extra = ""
        if live == "ok" and vx[1] is not None and p.stdout.decode(errors="replace") != vx[1]:
            self.res.F("DEVIATION", "line %d" % e.line, "exec %s: printed %r, expected %r" %
                       (cmd, p.stdout.decode(errors="replace"), vx[1]))
        self.judge(e, e.reply, R(e.reply), R(vx[0], "refuse" if vx[0] == "refused" else None,
                                               "only md5sum/sha1sum are offered"), live, False, extra)

    def do_request(self, e):
        rm, vm, s, p = self.rm, self.vm, e.sess, e.path
        div = self.diverged(self.involved(e))
        if e.op == "open":
            key = self.content_key(e)
            rx = rm.open(s, p, e.flags, e.mode, key)
            vx = vm.open(s, p, e.flags, e.mode, key)
            self.keys.setdefault((s, p), []).append(key)
            flags = sum(FXF[f] for f in e.flags)
            lv = self.live(s)
            tok, val = lv.call(OPEN, sstr(p) + u32(flags) + enc_attrs(None if e.mode is None else {"perm": e.mode}))
            if tok == "handle":
                lv.handles[p].append(val)
            self.judge(e, e.reply, rx, vx, tok, div, self.msg(tok, val))
            return
        if e.op in ("write", "read", "fsync", "fsetstat", "close"):
            return self.do_handle_op(e, div)
        if e.op in ("readdir", "closedir"):
            lv = self.live(s)
            hl = lv.dirs.get(p)
            rx = rm.readdir(s, p) if e.op == "readdir" else rm.closedir(s, p)
            vx = vm.readdir(s, p) if e.op == "readdir" else vm.closedir(s, p)
            tok = val = None
            if hl:
                tok, val = lv.call(READDIR if e.op == "readdir" else CLOSE, sstr(hl[-1]))
                if e.op == "closedir":
                    hl.pop()
            self.judge(e, e.reply, rx, vx, tok, div or vx is None, self.msg(tok, val))
            return
        rx = Simulator(rm).apply(e)
        vx = Simulator(vm).apply(e)
        lv = self.live(s)
        if e.op in ("stat", "lstat", "opendir", "remove", "rmdir", "realpath"):
            t = {"stat": STAT, "lstat": LSTAT, "opendir": OPENDIR, "remove": REMOVE, "rmdir": RMDIR,
                 "realpath": REALPATH}[e.op]
            tok, val = lv.call(t, sstr(p))
            if e.op == "opendir" and tok == "handle":
                lv.dirs[p].append(val)
        elif e.op == "mkdir":
            tok, val = lv.call(MKDIR, sstr(p) + enc_attrs(None))
        elif e.op == "setstat":
            tok, val = lv.call(SETSTAT, sstr(p) + enc_attrs(e.attrs))
        elif e.op == "rename":
            tok, val = lv.call(RENAME, sstr(p) + sstr(e.path2))
        elif e.op == "posix-rename":
            tok, val = lv.ext("posix-rename@openssh.com", sstr(p) + sstr(e.path2))
        elif e.op == "limits":
            tok, val = lv.ext("limits@openssh.com")
        elif e.op == "users-groups-by-id":
            tok, val = lv.ext("users-groups-by-id@openssh.com", sstr(u32(1001)) + sstr(u32(1001)))
        else:
            raise TraceError("line %d: no replay for %s" % (e.line, e.op))
        self.judge(e, e.reply, rx, vx, tok, div, self.msg(tok, val))
        if vx is not None and vx[1] == "ignore" and e.op == "setstat":
            self.check_no_effect(e)
        if tok == "attrs" and e.op in ("stat", "lstat"):
            self.check_attrs(e, val)

    def check_attrs(self, e, val):
        """A stat must show what the vault holds: the type, and a file's size."""
        n = self.vm.nodes.get(e.path)
        if n is None:
            return
        _, size, perm = dec_attrs(val)
        isdir = perm is not None and (perm & 0o170000) == 0o040000
        if perm is None or isdir != (n.type == "d") or (n.type == "f" and size != n.content.size):
            self.res.F("DEVIATION", "line %d" % e.line, "%s %s: attrs size %s mode %s, expected a %s%s" %
                       (e.op, rel(e.path), size, None if perm is None else "%o" % perm,
                        "directory" if n.type == "d" else "file", "" if n.type == "d" else
                        " of %d bytes" % n.content.size))

    def msg(self, tok, val):
        return (' "%s"' % val) if isinstance(val, str) and val else ""

    def check_no_effect(self, e, node=None):
        fs = os.path.join(self.root, rel(e.path))
        try:
            st = os.lstat(fs)
        except OSError:
            return
        n = self.vm.nodes.get(e.path)
        if "mtime" in e.attrs and int(st.st_mtime) == e.attrs["mtime"]:
            self.res.F("DEVIATION", "line %d" % e.line, "%s %s: answered as ignored, but the mtime was set" %
                       (e.op, rel(e.path)))
        if n is not None and "perm" in e.attrs and (st.st_mode & 0o7777) != n.mode:
            self.res.F("DEVIATION", "line %d" % e.line, "%s %s: answered as ignored, but the mode is now %04o "
                       "(expected %04o)" % (e.op, rel(e.path), st.st_mode & 0o7777, n.mode))

    def do_handle_op(self, e, div):
        rm, vm, s, p = self.rm, self.vm, e.sess, e.path
        lv = self.live(s)
        hl = lv.handles.get(p)
        h = hl[-1] if hl else None
        keys = self.keys.get((s, p)) or [p + "#0"]
        key = keys[-1]
        if e.op == "write":
            rx = rm.write(s, p, e.a, e.b - e.a, key)
            vx = vm.write(s, p, e.a, e.b - e.a, key)
            tok = None
            if h is not None:
                tok = self.live_writes(lv, h, e, key)
            self.judge(e, "OK", rx, vx, tok, div or vx is None)
            return
        if e.op == "read":
            rx = rm.read(s, p, e.a, e.b)
            vx = vm.read(s, p, e.a, e.b)
            rxt = None if rx is None else R("bytes(%d)" % rx[0])
            vxt = None if vx is None else R("bytes(%d)" % vx[0])
            rtok = "bytes(%d)" % e.bread if e.bread is not None else \
                (next(iter(rxt[0])) if rxt is not None else None)
            tok = None
            if h is not None:
                got, eof, md5 = self.live_reads(lv, h, e)
                tok = "bytes(%d)" % got
                if vx is not None:
                    want = vx[2].md5(e.a, e.a + vx[0])
                    if got != vx[0] or md5 != want:
                        self.res.F("DEVIATION", "line %d" % e.line, "read %s [%d..%d): got %d bytes (md5 %s), "
                                   "expected %d bytes (md5 %s)" % (rel(p), e.a, e.b, got, md5, vx[0], want))
            self.judge(e, rtok, rxt, vxt, tok, div or vx is None)
            return
        if e.op == "fsync":
            rx, vx = rm.fsync(s, p), vm.fsync(s, p)
            tok = val = None
            if h is not None:
                tok, val = lv.ext("fsync@openssh.com", sstr(h))
            self.judge(e, e.reply, rx, vx, tok, div or vx is None, self.msg(tok, val))
            return
        if e.op == "fsetstat":
            rx, vx = rm.fsetstat(s, p, e.attrs), vm.fsetstat(s, p, e.attrs)
            tok = val = None
            if h is not None:
                tok, val = lv.call(FSETSTAT, sstr(h) + enc_attrs(e.attrs))
            self.judge(e, e.reply, rx, vx, tok, div or vx is None, self.msg(tok, val))
            return
        # close
        rx, vx = rm.close(s, p), vm.close(s, p)
        tok = val = None
        if h is not None:
            tok, val = lv.call(CLOSE, sstr(h))
            hl.pop()
        if self.keys.get((s, p)):
            self.keys[(s, p)].pop()
        self.judge(e, e.reply, rx, vx, tok, div or vx is None, self.msg(tok, val))

    def live_writes(self, lv, h, e, key):
        """Sends the writes of one aggregate line, pipelined; returns the first non-OK token or OK."""
        chunk = min(MAX_CHUNK, -(-e.nbytes // e.reqs) if e.reqs else e.nbytes) or 1
        off, window, out = e.a, collections.deque(), "OK"
        while off < e.b or window:
            while off < e.b and len(window) < 32:
                n = min(chunk, e.b - off)
                window.append(lv.send(WRITE, sstr(h) + u64(off) + sstr(gen(key, off, n))))
                off += n
            tok, val = decode(*lv.recv(window.popleft()))
            if tok != "OK" and out == "OK":
                out = tok
        return out

    def live_reads(self, lv, h, e):
        chunk = min(MAX_CHUNK, -(-e.nbytes // e.reqs) if e.reqs else 32768) or 32768
        off, got, eof = e.a, 0, False
        md5 = hashlib.md5()
        window = collections.deque()
        nxt = off
        while True:
            while not eof and nxt < e.b and len(window) < 8:
                n = min(chunk, e.b - nxt)
                window.append((nxt, n, lv.send(READ, sstr(h) + u64(nxt) + u32(n))))
                nxt += n
            if not window:
                break
            o, n, rid = window.popleft()
            tok, val = decode(*lv.recv(rid))
            if tok == "data":
                if o != e.a + got:
                    continue    # after a short read the pipelined ones are stale
                md5.update(val)
                got += len(val)
                if len(val) < n:
                    # a short read: go on from where it ended, like a client
                    nxt = e.a + got
                    for (_, _, r2) in window:
                        lv.recv(r2)
                    window.clear()
            elif tok == "EOF":
                eof = True
                for (_, _, r2) in window:
                    lv.recv(r2)
                window.clear()
            else:
                self.res.F("DEVIATION", "line %d" % e.line, "read %s: %s %s" % (rel(e.path), tok, val))
                for (_, _, r2) in window:
                    lv.recv(r2)
                break
        return got, eof, md5.hexdigest()

    # -- afterwards -------------------------------------------------------------
    def check_state(self):
        res, vm = self.res, self.vm
        live_files, live_dirs, attic = {}, set(["/"]), collections.defaultdict(list)
        partials = collections.Counter()
        for dp, dns, fns in os.walk(self.root):
            rd = "/" + os.path.relpath(dp, self.root) if dp != self.root else "/"
            rd = normpath(rd)
            if rd == "/":
                dns[:] = [d for d in dns if d != ".sealvault"]
            for d in dns:
                live_dirs.add(normpath(rd + "/" + d))
            for f in fns:
                if f.startswith(".sealvault.part."):
                    partials[rd] += 1
                    continue
                if f.startswith(".sealvault"):
                    res.F("STATE", "end", "unexpected vault file %s" % normpath(rd + "/" + f))
                    continue
                live_files[normpath(rd + "/" + f)] = md5_file(os.path.join(dp, f))
        # uploads cut off without CLOSE stay behind as hidden partial files, nothing else does
        want_partials = +vm.partials
        for d in sorted(set(want_partials) | set(partials)):
            if want_partials[d] != partials[d]:
                res.F("STATE", "end", "%s: %d partial upload file(s), expected %d (uploads never closed)" %
                      (rel(d) or "/", partials[d], want_partials[d]))
        res.counts["partials"] = sum(partials.values())
        aroot = os.path.join(self.root, ".sealvault", "attic")
        for dp, dns, fns in os.walk(aroot):
            rd = normpath("/" + os.path.relpath(dp, aroot)) if dp != aroot else "/"
            for f in fns:
                m = re.match(r"^(.*)~\d{8}T\d{6}Z-[0-9a-f]{8}$", f)
                if not m:
                    res.F("STATE", "attic", "unexpected attic entry %s" % os.path.join(rd, f))
                    continue
                attic[normpath(rd + "/" + m.group(1))].append(md5_file(os.path.join(dp, f)))
        want_files = {p: n.content.md5() for p, n in vm.nodes.items() if n.type == "f"}
        want_dirs = {p for p, n in vm.nodes.items() if n.type == "d"}
        for p in sorted(set(want_files) | set(live_files)):
            if p not in live_files:
                res.F("STATE", "end", "%s: missing (expected %s)" % (rel(p), want_files[p]))
            elif p not in want_files:
                res.F("STATE", "end", "%s: present, the policy says it should not be" % rel(p))
            elif want_files[p] != live_files[p]:
                res.F("STATE", "end", "%s: content %s, expected %s" % (rel(p), live_files[p], want_files[p]))
        for p in sorted(want_dirs ^ live_dirs):
            res.F("STATE", "end", "directory %s: %s" % (rel(p) or "/", "missing" if p in want_dirs else "unexpected"))
        for p in sorted(set(vm.attic) | set(attic)):
            need = collections.Counter(c.md5() for c, req in vm.attic.get(p, []) if req)
            may = collections.Counter(c.md5() for c, req in vm.attic.get(p, []) if not req)
            have = collections.Counter(attic.get(p, []))
            missing = need - have
            extra = have - need - may
            if missing:
                res.F("STATE", "attic", "%s: %d old version(s) missing from the attic" % (rel(p), sum(missing.values())))
            if extra:
                res.F("STATE", "attic", "%s: %d unexpected version(s) in the attic" % (rel(p), sum(extra.values())))
        # the invariant, independent of the model: nothing finished is lost
        lost = 0
        for p, c in vm.finished:
            d = c.md5()
            if live_files.get(p) == d or d in attic.get(p, []):
                continue
            lost += 1
            if lost <= 20:
                res.F("LOST", "end", "%s (md5 %s, finished during the replay or before it) is neither in "
                      "place nor in the attic" % (rel(p), d))
        if lost > 20:
            res.F("LOST", "end", "... and %d more" % (lost - 20))
        res.counts["files checked"] = len(want_files)
        res.counts["attic versions"] = sum(len(v) for v in attic.values())

    def check_table(self):
        for s in self.sels:
            if not self.used[s]:
                self.res.F("TABLE", "expectations.py", "declared %s %s %s matched no request with that outcome" % s[:3])

    def go(self):
        self.setup()
        try:
            self.run()
        finally:
            for s in list(self.lives):
                try:
                    self.end_session(s)
                except Exception:
                    pass
        self.check_state()
        self.check_table()
        self.cleanup()
        return self.res


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def tool_of(name):
    for t in sorted(X.TOOL_PROFILE, key=len, reverse=True):
        if name.startswith(t + "-"):
            return t
    return None


def check_profiles(profiles_c, names):
    out = []
    try:
        built = parse_profiles_c(profiles_c)
    except (OSError, AttributeError) as ex:
        return ["FAIL profiles %s PROFILE: cannot read the built-in profiles: %s" % (profiles_c, ex)]
    for name in sorted(names):
        want, got = X.PROFILES.get(name), built.get(name)
        norm = (lambda pr: None if pr is None else
                ([(r[0], r[1], dict(r[2]) if len(r) > 2 else {}) for r in pr["rules"]], pr["times"], pr["chmod"]))
        if norm(want) != norm(got):
            out.append("FAIL profiles %s PROFILE: profile %s differs from expectations.py (%s vs %s): review "
                       "the expectations" % (profiles_c, name, norm(got), norm(want)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--traces", required=True, help="directory with <tool>-<scenario>.ops.txt")
    ap.add_argument("--vault-sftp", required=True)
    ap.add_argument("--profiles-c", help="policy/profiles.c, for the drift check")
    ap.add_argument("--tool", action="append", help="only this tool (repeatable)")
    ap.add_argument("--trace", action="append", help="only this trace name (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep the temp roots")
    ap.add_argument("-v", "--verbose", action="store_true", help="print notes and consequences too")
    args = ap.parse_args()

    if not os.path.isdir(args.traces):
        print("SKIP: no traces directory at %s (the recorded client traces, shared/clients/traces next to "
              "the repository; CI has them, and scripts/test.sh fails a skip as root)" % os.path.abspath(args.traces))
        return 77
    names = sorted(f[:-len(".ops.txt")] for f in os.listdir(args.traces) if f.endswith(".ops.txt"))
    selected = []
    for n in names:
        t = tool_of(n)
        if t is None:
            print("FAIL %s: no tool for this trace name (expectations.TOOL_PROFILE)" % n)
            selected.append((n, None))
            continue
        if args.tool and t not in args.tool:
            continue
        if args.trace and n not in args.trace:
            continue
        selected.append((n, t))
    if not selected:
        print("trace-replay: no traces in %s for %s" % (os.path.abspath(args.traces), args.tool or args.trace))
        return 1
    print("trace-replay: %d traces from %s, vault-sftp %s" % (len(selected), os.path.abspath(args.traces),
                                                                args.vault_sftp))
    passed = failed = 0
    tools = {t for _, t in selected if t}
    pre = check_profiles(args.profiles_c, {X.TOOL_PROFILE[t] for t in tools}) if args.profiles_c else []
    for line in pre:
        print(line)
    for n in sorted(set(X.SCENARIOS) - set(names)):
        if tool_of(n) in tools:
            print("FAIL %s TABLE: expectations.py describes a trace that does not exist" % n)
            pre.append(n)
    t0 = time.monotonic()
    for n, t in selected:
        if t is None:
            failed += 1
            continue
        t1 = time.monotonic()
        try:
            res = Replay(args, os.path.join(args.traces, n + ".ops.txt"), t, X.SCENARIOS.get(n)).go()
        except TraceError as ex:
            res = Result(n)
            res.F("TRACE", "", str(ex))
        for line in res.fail:
            print(line)
        for line in res.notes:
            if args.verbose or "R model" in line:     # trace inconsistencies always, consequences on -v
                print(line)
        c = res.counts
        detail = ", ".join("%d %s" % (c[k], k) for k in ("as recorded", "refuse", "attic", "ignore", "compare",
                                                        "differs", "consequences", "anomalies", "skipped")
                           if c[k]) + (", %d moved by the reorder" % c["moved"] if c["moved"] else "")
        print("%s %s: %d requests (%s); %d files, %d attic versions, %d partials checked; %d failures [%.1fs]" %
              ("PASS" if not res.fail else "FAIL", n, c["requests"], detail, c["files checked"],
               c["attic versions"], c["partials"], len(res.fail), time.monotonic() - t1))
        if res.fail:
            failed += 1
        else:
            passed += 1
    if pre:
        failed += 1
    print("trace-replay: %.1fs" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
