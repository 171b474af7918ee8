# shellcheck shell=bash
# Shared by the tests of vaultd's watchers and catch-up scan
# (test_watcher*.sh, test_vaultd_restart.sh): one tenant on a loop-mounted
# ext4, vaultd started by PID, the tenant's own processes, and the checks of
# the immutable flag. Source after lib.sh; call watch_init after it_init.
#
#   $MNT   the loop filesystem (room for 30,000+ small files)
#   $V     the tenant root, owned by the tenant $U until vaultd protects it
#   $OUT   on the same filesystem, outside the root, owned by the tenant
#   $CTL   not on $MNT: markers between the test and the tenant's writers
#
# Environment: WATCHER_MODE=fanotify|inotify (default fanotify); VAULTD
# overrides $SEALVAULT_BINARY_DIR/bin/vaultd.

# The tenant runs the system python (a root-only pyenv shim is not runnable by it).
SYS_PY=/usr/bin/python3

watch_init() {
	local ifree
	require_cmd mkfs.ext4 mount umount losetup chattr getfacl getfattr setpriv
	[[ -x $SYS_PY ]] || SYS_PY=$(command -v python3)
	VAULTD=${VAULTD:-$SEALVAULT_BINARY_DIR/bin/vaultd}
	[[ -x $VAULTD ]] || fail "vaultd not executable: $VAULTD"
	WATCHER_MODE=${WATCHER_MODE:-fanotify}
	case $WATCHER_MODE in
	fanotify | inotify) ;;
	*) fail "WATCHER_MODE must be fanotify or inotify, not '$WATCHER_MODE'" ;;
	esac

	# mkfs picks one inode per 4 KiB below 512 MiB: 256M is 65536 inodes (sparse image).
	MNT=$T/mnt
	loop_ext4 256M "$MNT"
	ifree=$(df --output=iavail "$MNT" | tail -n 1)
	((ifree >= 30000)) || fail "only $ifree free inodes on the test filesystem"
	chmod 0755 "$MNT"
	U=$(unique_name svw)
	make_user "$U" /nonexistent /usr/sbin/nologin
	V=$MNT/vault
	OUT=$MNT/outside
	CTL=$T/ctl
	install -d -m 0755 -o "$U" -g "$U" "$V" "$OUT" "$CTL"
	install -d -m 0700 "$T/attic"

	SOCK=$T/broker.sock
	CTRL=$T/control.sock
	CONF=$T/vault.conf
	# journal-socket names nothing: vaultd logs to stderr. kernel-audit no:
	# thousands of seals would otherwise flood the kernel log.
	cat >"$CONF" <<CONF
broker-socket $SOCK
control-socket $CTRL
journal-socket $T/no-journal
attic $T/attic
state-dir $T/state
kernel-audit no
settle 1s
profile wt {
	path **/*.tmp           temp
	path **/locks/*         mutable
	path **/*.ver           versioned
	path **                 seal
}
tenant wt {
	user $U
	root $V
	profile wt
}
CONF
	chmod 0644 "$CONF"
	watch_write_py
}

# ---------------------------------------------------------------- vaultd

# start_vaultd LOG [ARG...]: vaultd on $CONF in $WATCHER_MODE, stdout and
# stderr appended to LOG; returns once it logged "vaultd: ready". Sets
# VAULTD_PID; the stop is registered.
start_vaultd() {
	local log=$1
	shift
	touch "$log"
	"$VAULTD" --config "$CONF" --watcher "$WATCHER_MODE" "$@" </dev/null >>"$log" 2>&1 &
	VAULTD_PID=$!
	on_exit stop_pid "$VAULTD_PID"
	log "vaultd pid $VAULTD_PID --watcher $WATCHER_MODE $*"
	wait_vaultd_line "$log" '^vaultd: ready' 20
}

# vaultd_alive: the process exists and is not a zombie (kill -0 succeeds on
# an unreaped child that has exited).
vaultd_alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$VAULTD_PID/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[[ -n $st && $st != Z ]]
}

# wait_vaultd_line LOG ERE SECS: a bounded wait for a line of vaultd; fails
# at once if vaultd is gone.
wait_vaultd_line() {
	local log=$1 re=$2 secs=$3 i
	for ((i = 0; i < secs * 10; i++)); do
		grep -Eq -- "$re" "$log" && return 0
		if ! vaultd_alive; then
			tail -n 40 "$log" | sed 's/^/    | /' >&2
			fail "vaultd (pid $VAULTD_PID) is gone without logging /$re/"
		fi
		sleep 0.1
	done
	tail -n 40 "$log" | sed 's/^/    | /' >&2
	fail "timed out after ${secs}s waiting for vaultd to log /$re/"
}

# expect_watcher_fds: vaultd holds the kernel object of $WATCHER_MODE (in
# inotify mode and no fanotify group): it did not quietly fall back.
expect_watcher_fds() {
	local links
	links=$(find "/proc/$VAULTD_PID/fd" -mindepth 1 -maxdepth 1 -type l -printf '%l\n' 2>/dev/null)
	case $WATCHER_MODE in
	fanotify)
		grep -qx 'anon_inode:\[fanotify\]' <<<"$links" ||
			fail "vaultd --watcher fanotify holds no fanotify group"
		;;
	inotify)
		grep -qx 'anon_inode:inotify' <<<"$links" ||
			fail "vaultd --watcher inotify holds no inotify instance"
		if grep -q fanotify <<<"$links"; then
			fail "vaultd --watcher inotify holds a fanotify group"
		fi
		;;
	esac
}

# ---------------------------------------------------------------- the tenant

# as_tenant CMD [ARG...]: CMD as the tenant's uid and gid, no other groups, in /.
as_tenant() {
	(cd / && exec setpriv --reuid="$U" --regid="$U" --clear-groups "$@")
}

# tsh SCRIPT [ARG...]: sh -c SCRIPT as the tenant; the names go in as "$1"...
tsh() {
	local script=$1
	shift
	as_tenant /bin/sh -c "$script" sh "$@"
}

# tpy CMD [ARG...]: $T/tenant.py (below) as the tenant.
tpy() {
	as_tenant "$SYS_PY" "$T/tenant.py" "$@"
}

# tpy_bg OUT CMD [ARG...]: tenant.py as the tenant in the background,
# output to OUT. TPY_PID is python's own PID (no shell in between, so that
# the kill registered for the exit reaches it).
tpy_bg() {
	local out=$1
	shift
	setpriv --reuid="$U" --regid="$U" --clear-groups "$SYS_PY" "$T/tenant.py" "$@" </dev/null >"$out" 2>&1 &
	TPY_PID=$!
	on_exit kill "$TPY_PID"
}

# ---------------------------------------------------------------- the flag

flags_py() {
	"$SYS_PY" "$T/flags.py" "$@"
}

# fstate PATH: i (immutable regular file), - (regular file), l (symlink),
# d / D (directory without / with the flag), o (other), ? (missing).
fstate() {
	flags_py state "$1"
}

is_sealed() {
	[[ $(fstate "$1") == i ]]
}

expect_sealed() {
	local p s
	for p in "$@"; do
		s=$(fstate "$p")
		[[ $s == i ]] || fail "not sealed (state $s): $p"
	done
}

# expect_not_sealed PATH...: each is a regular file without the flag.
expect_not_sealed() {
	local p s
	for p in "$@"; do
		s=$(fstate "$p")
		[[ $s == - ]] || fail "must be a writable regular file, state is $s: $p"
	done
}

# wait_sealed DIR N SECS WHAT: a bounded wait until N regular files under
# DIR are immutable; fails if fewer, or more, are.
wait_sealed() {
	local dir=$1 n=$2 secs=$3 what=$4
	flags_py wait "$dir" "$n" "$secs" >"$T/wait.out" 2>&1 || {
		sed 's/^/    | /' "$T/wait.out" >&2
		fail "$what: not exactly $n sealed files under $dir after ${secs}s"
	}
	log "$what: $(head -n 1 "$T/wait.out")"
}

# count_immutable DIR [--exclude PATH]...: immutable regular files under DIR.
count_immutable() {
	flags_py count "$@" | cut -d' ' -f1
}

# barrier DIR: a new file written by the tenant in DIR (watched already),
# waited for until sealed. A watcher hands file events over in order, so
# what the tenant did to files before it has been looked at by then.
BARRIER_N=0
barrier() {
	local f
	BARRIER_N=$((BARRIER_N + 1))
	f="$1/barrier-$BARRIER_N.dat"
	tsh 'printf barrier >"$1"' "$f" || fail "the tenant cannot write $f"
	wait_until 30 "barrier $f sealed" is_sealed "$f"
}

# ---------------------------------------------------------------- python

watch_write_py() {
	cat >"$T/flags.py" <<'PY'
# flags.py: the immutable flag of regular files, read with FS_IOC_GETFLAGS
# on an O_RDONLY|O_NOFOLLOW|O_NONBLOCK fd; names are bytes throughout.
#   count DIR [--exclude PATH]...  -> "IMMUTABLE TOTAL" (regular files)
#   wait DIR N SECS                 -> polls until N are immutable; exit 1 unless exactly N
#   state PATH                      -> i - l d D o ?
import fcntl
import os
import struct
import sys
import time

FS_IOC_GETFLAGS = 0x80086601
FS_IMMUTABLE_FL = 0x10
OPEN = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | os.O_NOATIME


def getflags(path):
    fd = os.open(path, OPEN)
    try:
        return struct.unpack("I", fcntl.ioctl(fd, FS_IOC_GETFLAGS, bytes(8))[:4])[0]
    finally:
        os.close(fd)


def files(top, excludes=()):
    stack = [top]
    while stack:
        d = stack.pop()
        try:
            it = os.scandir(d)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with it:
            for e in it:
                if e.path in excludes:
                    continue
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.is_file(follow_symlinks=False):
                    yield e.path


def survey(top, excludes=()):
    sealed, unsealed = [], []
    for p in files(top, excludes):
        try:
            f = getflags(p)
        except FileNotFoundError:
            continue
        (sealed if f & FS_IMMUTABLE_FL else unsealed).append(p)
    return sealed, unsealed


def main():
    cmd, args = sys.argv[1], [os.fsencode(a) for a in sys.argv[2:]]
    if cmd == "count":
        top, excl = args[0], set()
        rest = args[1:]
        while rest:
            if rest[0] != b"--exclude" or len(rest) < 2:
                sys.exit("usage: count DIR [--exclude PATH]...")
            excl.add(rest[1])
            rest = rest[2:]
        s, u = survey(top, excl)
        print(len(s), len(s) + len(u))
    elif cmd == "wait":
        top, want, secs = args[0], int(args[1]), float(args[2])
        deadline = time.monotonic() + secs
        while True:
            s, u = survey(top)
            if len(s) >= want or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        print("%d of %d files sealed (want %d) under %r" % (len(s), len(s) + len(u), want, top))
        if len(s) < want:
            print("not sealed, first 20:")
            for p in sorted(u)[:20]:
                print("  %r" % p)
            sys.exit(1)
        if len(s) > want:
            print("sealed, first 40:")
            for p in sorted(s)[:40]:
                print("  %r" % p)
            sys.exit(1)
    elif cmd == "state":
        p = args[0]
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            print("?")
            return
        import stat
        if stat.S_ISLNK(st.st_mode):
            print("l")
        elif stat.S_ISDIR(st.st_mode):
            print("D" if getflags(p) & FS_IMMUTABLE_FL else "d")
        elif stat.S_ISREG(st.st_mode):
            print("i" if getflags(p) & FS_IMMUTABLE_FL else "-")
        else:
            print("o")
    else:
        sys.exit("unknown command " + cmd)


main()
PY
	cat >"$T/tenant.py" <<'PY'
# tenant.py: what the tests' tenant does, run as the tenant's uid.
#   names DIR MARKER     files (and directories) with hostile names; prints "SEAL TEMP"
#   bulk DIR NDIRS PER [--prefix P] [--flat] [--signal-at N FILE] [--wait-at N FILE]
#                        NDIRS*PER small files in new directories DIR/P000... (--flat:
#                        all in DIR, named P000-f0000.dat); after the Nth file creates
#                        FILE / waits (at most 60 s) for FILE to exist
#   link PATH OTHER      writes PATH, hard-links it as OTHER, then closes PATH
#   slow PATH N SECS     N writes SECS apart into PATH, held open; exit 1 on a failed write
#   held PATH CTL        writes PATH every 0.2 s until CTL/stop exists, then holds it
#                        open without writing until CTL/close exists, then tries one
#                        more write and prints its errno (0: it worked)
import argparse
import errno
import os
import sys
import time

O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def write_new(path, data):
    fd = os.open(path, O_NEW, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def wait_for(path, secs):
    deadline = time.monotonic() + secs
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            sys.exit("timed out waiting for %s" % path)
        time.sleep(0.05)


def names(top, marker):
    top, m = os.fsencode(top), os.fsencode(marker)
    rel = os.path.basename(m)
    seal = [
        b"it's", b'say "hi"', b"'", b'"', b"\\", b"back\\slash\\",
        b"dollar $HOME $1 ${IFS}x", b"semi;touch " + rel + b";", b"`touch " + rel + b"`",
        b"$(touch " + rel + b")", b"&& touch " + rel, b"| touch " + rel,
        b"new\nline", b"\nleading newline", b"trailing newline\n", b"cr\rhere", b"tab\there",
        b"  spaces  inside  ", b" ", b"-", b"-rf", b"--help", b"-n", b"x" * 255,
        b"\xff\xfe\xfd not utf-8 \x80", b"\x1b[31mred\x1b[0m", b"\x01\x02\x7f control",
        b"star*?[a]{b,c}", b"%s%n%x%%", b"<lt >gt", b"..data", b"dot.", b"#hash", b"~tilde",
        b"!bang", b"=eq", "caf\u00e9 \u2603 \u00fcn\u00ef".encode(),
    ]
    # The same commands with an absolute path: the slash nests directories.
    nested = [b"$(touch " + m + b")", b"`touch " + m + b"`", b";touch " + m + b";", b"|touch " + m]
    temp = [b"$(touch " + rel + b") it's.tmp", b"new\nline.tmp", b"-rf .tmp"]
    n_seal = n_temp = 0
    for n in seal:
        write_new(os.path.join(top, n), n)
        n_seal += 1
    for n in nested:
        p = os.path.join(top, n)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        write_new(p, n)
        n_seal += 1
    for n in temp:
        write_new(os.path.join(top, n), n)
        n_temp += 1
    # Directories with hostile names, created after vaultd started, holding more.
    for d in [b"dir $(touch " + rel + b") 'q' \"d\"\n;x", b"y" * 255, b"-d \xff\xfe"]:
        dp = os.path.join(top, d)
        os.mkdir(dp)
        for n in [b"it's", b"z" * 255, b"new\nline", b"$(touch " + rel + b")"]:
            write_new(os.path.join(dp, n), n)
            n_seal += 1
        write_new(os.path.join(dp, b"`x`.tmp"), b"t")
        n_temp += 1
    print(n_seal, n_temp)


def bulk(a):
    n = 0
    for i in range(a.ndirs):
        if a.flat:
            d = a.dir
        else:
            d = os.path.join(a.dir, "%s%03d" % (a.prefix, i))
            os.makedirs(d, exist_ok=True)
        for j in range(a.per):
            if a.wait_at is not None and n == a.wait_at[0]:
                wait_for(a.wait_at[1], 60)
            name = ("%s%03d-f%04d.dat" % (a.prefix, i, j)) if a.flat else ("f%04d.dat" % j)
            write_new(os.path.join(d, name), b"%d %d\n" % (i, j))
            n += 1
            if a.signal_at is not None and n == a.signal_at[0]:
                open(a.signal_at[1], "w").close()
    print(n)


def link(path, other):
    fd = os.open(path, O_NEW, 0o644)
    os.write(fd, b"linked\n")
    os.link(path, other)
    os.close(fd)


def slow(path, n, secs):
    fd = os.open(path, O_NEW, 0o644)
    for i in range(n):
        os.write(fd, b"chunk %d\n" % i)
        time.sleep(secs)
    os.close(fd)


def held(path, ctl):
    fd = os.open(path, O_NEW, 0o644)
    os.write(fd, b"start\n")
    open(os.path.join(ctl, "started"), "w").close()
    deadline = time.monotonic() + 90
    i = 0
    while not os.path.exists(os.path.join(ctl, "stop")):
        if time.monotonic() > deadline:
            sys.exit("held: no stop within 90 s")
        os.write(fd, b"line %d\n" % i)  # a failure here (sealed under the writer) exits 1
        i += 1
        time.sleep(0.2)
    open(os.path.join(ctl, "stopped"), "w").close()
    wait_for(os.path.join(ctl, "close"), 90)
    try:
        os.write(fd, b"late\n")
        print("late write errno 0")
    except OSError as e:
        print("late write errno %d (%s)" % (e.errno, errno.errorcode.get(e.errno, "?")))
    os.close(fd)


def main():
    cmd = sys.argv[1]
    if cmd == "names":
        names(sys.argv[2], sys.argv[3])
    elif cmd == "bulk":
        ap = argparse.ArgumentParser(prog="tenant.py bulk")
        ap.add_argument("dir")
        ap.add_argument("ndirs", type=int)
        ap.add_argument("per", type=int)
        ap.add_argument("--prefix", default="d")
        ap.add_argument("--flat", action="store_true")
        ap.add_argument("--signal-at", nargs=2, type=lambda s: int(s) if s.isdigit() else s)
        ap.add_argument("--wait-at", nargs=2, type=lambda s: int(s) if s.isdigit() else s)
        bulk(ap.parse_args(sys.argv[2:]))
    elif cmd == "link":
        link(sys.argv[2], sys.argv[3])
    elif cmd == "slow":
        slow(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif cmd == "held":
        held(sys.argv[2], sys.argv[3])
    else:
        sys.exit("unknown command " + cmd)


main()
PY
	chmod 0644 "$T/flags.py" "$T/tenant.py"
}
