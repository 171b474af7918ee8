#!/usr/bin/env bash
# The .deb (cmake/Packaging.cmake): built with cpack in a build of its own
# (prefix /usr, no tests, Debian's hardening flags), it lists the programs,
# the unit, the man pages and the example config, declares the libraries
# its programs load, and lintian finds no error in it. Then dpkg installs it
# for real, maintainer scripts and triggers included, into a copy-on-write
# view of this host: the installed programs run, the installed config
# checks, the installed pages read, the installed unit verifies, the
# installed vaultd starts with one tenant and seals an upload through the
# installed vault-sftp; the maintainer scripts call systemctl only where
# systemd runs and never start anything; and a purge leaves nothing of the
# package behind.
#
# Why a view and not this host or a debootstrap chroot: installing on the
# host would overwrite or purge a developer's own sealvault and change the
# machine; a debootstrap chroot needs a Debian mirror (tests use only
# loopback networking) and took 33 s plus the dependencies to download.
# Here the whole test runs in a mount namespace of its own, the host's root
# filesystem is the lower layer of an overlayfs whose upper layer is a
# tmpfs, and dpkg runs chrooted into it: the host's package database,
# libraries and tools, untouched, and everything gone when the namespace
# ends, even after a SIGKILL.
# shellcheck source-path=SCRIPTDIR
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib.sh"

require_root
require_cmd cmake cpack dpkg dpkg-deb dpkg-query dpkg-buildflags dpkg-shlibdeps lintian \
	man unshare chroot mount umount readelf sftp lsattr systemd-analyze

# Everything below in a private mount namespace: no mount leaks to the host.
if [[ -z ${SEALVAULT_PKG_NS:-} ]]; then
	SEALVAULT_PKG_NS=1 exec unshare --mount --propagation private "$BASH" "${BASH_SOURCE[0]}" "$@"
fi

it_init
SRC=$SEALVAULT_SOURCE_DIR
JOBS=${SEALVAULT_JOBS:-2}

# --------------------------------------------------------------- build
# Its own build tree: the one the other tests use stays as it is, and no
# test binary can reach the package. Debian's flags, as a package build
# would have them (bindnow for lintian's hardening check).
B="$T/pkgbuild"
t0=$SECONDS
(
	export DEB_BUILD_MAINT_OPTIONS=hardening=+all
	eval "$(dpkg-buildflags --export=sh)"
	cmake -S "$SRC" -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
		-DBUILD_TESTING=OFF &&
		cmake --build "$B" -j "$JOBS"
) >"$T/build.log" 2>&1 </dev/null || {
	tail -40 "$T/build.log" | sed 's/^/    | /' >&2
	fail "configuring or building $B failed"
}
(cd "$B" && cpack -G DEB) >"$T/cpack.log" 2>&1 </dev/null || {
	sed 's/^/    | /' "$T/cpack.log" >&2
	fail "cpack -G DEB failed"
}
# A plain cmake --install never writes /etc (the conffile is the package's).
DESTDIR="$T/destdir" cmake --install "$B" >"$T/install.log" 2>&1 </dev/null || {
	sed 's/^/    | /' "$T/install.log" >&2
	fail "cmake --install failed"
}
[[ -x $T/destdir/usr/sbin/vaultd && -f $T/destdir/lib/systemd/system/vaultd.service ]] ||
	fail "cmake --install did not install vaultd and its unit"
[[ ! -e $T/destdir/etc ]] || fail "cmake --install wrote $(find "$T/destdir/etc" | head -3)"
mapfile -t debs < <(find "$B" -maxdepth 1 -name 'sealvault_*.deb')
((${#debs[@]} == 1)) || fail "want one sealvault_*.deb in $B, found ${#debs[@]}"
DEB=${debs[0]}
VERSION=$(sed -n 's/^project(sealvault VERSION \([0-9.]*\) .*/\1/p' "$SRC/CMakeLists.txt")
[[ -n $VERSION ]] || fail "no project(sealvault VERSION ...) in $SRC/CMakeLists.txt"
log "built $(basename "$DEB") in $((SECONDS - t0)) s"

# --------------------------------------------------------------- control
field() { dpkg-deb -f "$DEB" "$1"; }
[[ $(field Package) == sealvault ]] || fail "Package is '$(field Package)'"
[[ $(field Version) == "$VERSION-1" ]] || fail "Version is '$(field Version)', want $VERSION-1"
[[ $(field Maintainer) == "sealvault developers <sealvault@localhost>" ]] ||
	fail "Maintainer is '$(field Maintainer)'"
[[ $(field Section) == admin ]] || fail "Section is '$(field Section)'"
[[ $(field Architecture) == "$(dpkg --print-architecture)" ]] || fail "Architecture is '$(field Architecture)'"
[[ ", $(field Recommends), " == *", openssh-server, "* ]] || fail "Recommends lacks openssh-server: '$(field Recommends)'"
[[ -n $(field Description) ]] || fail "no Description"
DEPENDS=$(field Depends)
pass "control: sealvault $VERSION-1, admin, Recommends openssh-server; Depends: $DEPENDS"

# --------------------------------------------------------------- contents
dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's#^\./#/#; s#/$##' | LC_ALL=C sort >"$T/contents"
WANT=(
	/usr/sbin/vaultd /usr/sbin/vaultctl
	/usr/libexec/sealvault/vault-sftp /usr/libexec/sealvault/vault-sftp-static
	/lib/systemd/system/vaultd.service /lib/systemd/system/vault-listen.service
	/usr/share/man/man8/vaultd.8.gz /usr/share/man/man8/vaultctl.8.gz
	/usr/share/man/man8/vault-sftp.8.gz /usr/share/man/man5/vault.conf.5.gz
	/usr/share/doc/sealvault/examples/vault.conf
	/usr/share/doc/sealvault/copyright /usr/share/doc/sealvault/changelog.Debian.gz
	/etc/sealvault/vault.conf /etc/sealvault/conf.d /etc/sealvault/keys
)
for f in "${WANT[@]}"; do
	grep -qxF "$f" "$T/contents" || {
		sed 's/^/    | /' "$T/contents" >&2
		fail "dpkg-deb -c does not list $f"
	}
done
# Nothing of the tests, nothing under /usr/local or /srv.
expect_no_grep "$T/contents" '(^/usr/local|^/srv|/test_|/protocol_|/fuzz_|/bench)' "package contents"
pass "dpkg-deb -c lists the 4 programs, the units, 4 man pages, the example and /etc/sealvault"

# Every library a packaged program loads comes from a package it depends on
# (dpkg-shlibdeps did its work).
# owner_of PATH: the package that ships PATH, through symlinks and the
# merged /usr (dpkg knows a library by the one name its package ships).
owner_of() {
	local p c o
	for p in "$1" "$(readlink -f "$1")"; do
		for c in "$p" "${p#/usr}" "/usr$p"; do
			o=$(dpkg-query -S "$c" 2>/dev/null | sed -n '1s/:.*//p') || true
			[[ -n $o ]] && echo "$o" && return 0
		done
	done
	return 1
}
rm -rf "$T/x" && dpkg-deb -x "$DEB" "$T/x"
for f in usr/sbin/vaultd usr/sbin/vaultctl usr/libexec/sealvault/vault-sftp; do
	ldd "$T/x/$f" >"$T/ldd" || fail "ldd $f failed"
	while read -r soname; do
		libpath=$(awk -v s="$soname" '$1 == s && $2 == "=>" { print $3; exit }' "$T/ldd")
		[[ $libpath == /* ]] || fail "$f needs $soname, which does not resolve: $(cat "$T/ldd")"
		pkg=$(owner_of "$libpath") || fail "no package owns $libpath ($soname, needed by $f)"
		# Depends: "a (>= 1), b, c": the first word of each item.
		tr ',' '\n' <<<"$DEPENDS" | awk '{ print $1 }' | grep -xF -- "$pkg" >/dev/null ||
			fail "$f needs $soname from $pkg, which Depends lacks: $DEPENDS"
	done < <(readelf -d "$T/x/$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
done
readelf -d "$T/x/usr/libexec/sealvault/vault-sftp-static" >"$T/static.dyn" 2>&1 || true
expect_no_grep "$T/static.dyn" NEEDED "vault-sftp-static loads no shared library"
# The conffile, and maintainer scripts that may run.
rm -rf "$T/ctrl" && dpkg-deb -e "$DEB" "$T/ctrl"
grep -qxF /etc/sealvault/vault.conf "$T/ctrl/conffiles" || fail "conffiles lacks /etc/sealvault/vault.conf"
for s in postinst prerm postrm; do
	[[ -x $T/ctrl/$s ]] || fail "no executable $s in the package"
	sh -n "$T/ctrl/$s" || fail "$s: sh syntax error"
done
pass "Depends covers every NEEDED library; conffile /etc/sealvault/vault.conf; maintainer scripts"

# --------------------------------------------------------------- lintian
# Errors fail the test; the rest is printed for the record.
rc=0
lintian --no-cfg --display-info "$DEB" >"$T/lintian.out" 2>&1 </dev/null || rc=$?
sed 's/^/    lintian | /' "$T/lintian.out" >&2
if grep -q '^E: ' "$T/lintian.out"; then
	fail "lintian reports errors"
fi
# lintian exits 2 when it could not check the package at all.
((rc < 2)) || fail "lintian exited $rc"
pass "lintian: no errors ($(grep -c '^W: ' "$T/lintian.out" || true) warnings)"

# --------------------------------------------------------------- the view
# upper (tmpfs) over the host's root filesystem, as $R; its own /run, /tmp,
# /proc and /dev. The host's /run stays out: no systemd there, no sockets.
mkdir -p "$T/ovl" "$T/root"
mount -t tmpfs -o mode=0755 tmpfs "$T/ovl" || fail "cannot mount a tmpfs"
on_exit umount -l "$T/ovl"
mkdir -p "$T/ovl/upper" "$T/ovl/work"
UPPER=$T/ovl/upper
R=$T/root
mount -t overlay overlay -o "lowerdir=/,upperdir=$UPPER,workdir=$T/ovl/work" "$R" ||
	fail "cannot mount an overlayfs over /"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
on_exit umount -R -l "$R"

# in_root CMD...: CMD chrooted into the view, with a clean environment,
# for at most 2 minutes (a hung command must not outlive ctest's timeout,
# which kills without cleanup).
in_root() {
	timeout 120 chroot "$R" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

# shellcheck disable=SC2016 # ${...} are dpkg-query's fields
status=$(in_root dpkg-query -W -f '${db:Status-Status}' sealvault 2>/dev/null || true)
if [[ $status == installed ]]; then
	fail "sealvault is installed on this host already: the test would not start from nothing"
fi
# A fresh machine has no sealvault config or state. What this host has
# (a developer's own setup, another test's leftovers) is hidden in the view
# by whiteouts; the host's files stay as they are. /srv/sealvault may hold
# immutable files, which a whiteout cannot replace: if it is there, the
# package must leave it as it found it.
for d in /etc/sealvault /var/lib/sealvault; do
	if [[ -e $R$d ]]; then
		log "hiding the host's $d in the view"
		rm -rf "${R:?}$d" || fail "cannot hide the host's $d in the view"
	fi
done
SRV_ON_HOST=0
[[ -e /srv/sealvault ]] && SRV_ON_HOST=1
# A policy-rc.d left by an apt run would make deb-systemd-invoke skip systemctl.
rm -f "$R/usr/sbin/policy-rc.d"
# Slim Debian images tell dpkg to skip /usr/share/man and /usr/share/doc:
# the view installs everything.
for f in "$R"/etc/dpkg/dpkg.cfg.d/*; do
	if [[ -f $f ]] && grep -q '^path-exclude' "$f"; then
		log "ignoring the host's $(basename "$f") (path-exclude) in the view"
		rm -f "$f"
	fi
done
# A systemctl that records its calls: on Debian 12 deb-systemd-invoke and
# the maintainer scripts find it first in PATH.
SYSTEMCTL_LOG=/tmp/systemctl.calls
mkdir -p "$R/usr/local/sbin"
cat >"$R/usr/local/sbin/systemctl" <<EOF
#!/bin/sh
echo "\$*" >>$SYSTEMCTL_LOG
exit 0
EOF
chmod 0755 "$R/usr/local/sbin/systemctl"
: >"$R$SYSTEMCTL_LOG"
# The tenant's user, made before the snapshot so that it is not "left".
TENANT=pkgtest
in_root useradd --system --user-group --no-create-home --home-dir /srv/sealvault/$TENANT \
	--shell /usr/sbin/nologin "$TENANT" || fail "useradd $TENANT in the view failed"
cp "$DEB" "$R/tmp/sealvault.deb"

# upper_state: what the upper layer holds besides dpkg's own records: one
# line per file (checksum), symlink, whiteout (a deleted host file) and
# directory the host does not have. What dpkg keeps by design is left out:
# its database and log, and man-db's index its trigger rebuilds.
upper_state() {
	(
		cd "$UPPER"
		find . -mindepth 1 \( -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache/man \
			-o -path ./var/cache/debconf -o -path ./tmp -o -path ./run \) -prune -o -print |
			LC_ALL=C sort | while IFS= read -r p; do
				if [[ -h $p ]]; then
					echo "link ${p#.} -> $(readlink "$p")"
				elif [[ -c $p ]]; then
					echo "whiteout ${p#.}"
				elif [[ -d $p ]]; then
					[[ -d ${p#.} ]] || echo "dir ${p#.}"
				else
					echo "file ${p#.} $(sha256sum <"$p" | cut -c1-16)"
				fi
			done
	)
}
upper_state >"$T/before"

# --------------------------------------------------------------- install
# systemd does not run in the view: the scripts must not call systemctl.
rc=0
in_root dpkg -i /tmp/sealvault.deb >"$T/dpkg-i.out" 2>&1 </dev/null || rc=$?
sed 's/^/    dpkg -i | /' "$T/dpkg-i.out" >&2
((rc == 0)) || fail "dpkg -i failed ($rc)"
# shellcheck disable=SC2016 # ${...} are dpkg-query's fields
status=$(in_root dpkg-query -W -f '${db:Status-Status} ${Version}' sealvault || true)
[[ $status == "installed $VERSION-1" ]] || fail "dpkg says '$status', not 'installed $VERSION-1'"
[[ ! -s $R$SYSTEMCTL_LOG ]] || fail "without systemd the maintainer scripts called: systemctl $(cat "$R$SYSTEMCTL_LOG")"
# shellcheck disable=SC2016 # ${...} are dpkg-query's fields
in_root dpkg-query -W -f '${Conffiles}\n' sealvault >"$T/conffiles" || fail "dpkg-query Conffiles failed"
grep -q '^ /etc/sealvault/vault.conf [0-9a-f]\{32\}$' "$T/conffiles" ||
	fail "dpkg does not hold /etc/sealvault/vault.conf as a conffile: $(cat "$T/conffiles")"
[[ -d $R/srv/sealvault ]] || fail "postinst did not make /srv/sealvault (the unit's ReadWritePaths=)"
pass "dpkg -i: installed, conffile registered, /srv/sealvault made, no systemctl without systemd"

# --------------------------------------------------------------- installed
for p in /usr/sbin/vaultd /usr/sbin/vaultctl /usr/libexec/sealvault/vault-sftp \
	/usr/libexec/sealvault/vault-sftp-static; do
	out=$(in_root "$p" --version) || fail "$p --version failed"
	[[ $out == "$(basename "${p%-static}") $VERSION" ]] || fail "$p --version says '$out'"
done
for c in /etc/sealvault/vault.conf /usr/share/doc/sealvault/examples/vault.conf; do
	in_root vaultctl policy check "$c" >"$T/check.out" 2>&1 || {
		sed 's/^/    | /' "$T/check.out" >&2
		fail "vaultctl policy check $c failed"
	}
	expect_grep "$T/check.out" ': OK$' "policy check $c"
done
pass "the four programs say $VERSION; vaultctl policy check: both configs OK"

# The pages where man finds them by name, read without a warning.
for pg in vaultd.8 vaultctl.8 vault-sftp.8 vault.conf.5; do
	name=${pg%.*} sec=${pg##*.}
	path=$(in_root man -w "$sec" "$name" 2>/dev/null) || fail "man -w $sec $name: not found"
	[[ $path == /usr/share/man/man$sec/$pg.gz ]] || fail "man -w $sec $name: $path"
	rc=0
	in_root env MANWIDTH=80 man --warnings -l "$path" >"$T/man.out" 2>"$T/man.err" </dev/null || rc=$?
	if ((rc != 0)) || [[ -s $T/man.err ]] || [[ ! -s $T/man.out ]]; then
		sed 's/^/    | /' "$T/man.err" >&2
		fail "man --warnings -l $path: status $rc, warnings or no text"
	fi
done
pass "man finds and reads vaultd(8), vaultctl(8), vault-sftp(8), vault.conf(5) without warnings"

# The installed unit: its ExecStart and its Documentation= pages exist.
grep -qxF 'ExecStart=/usr/sbin/vaultd --config /etc/sealvault/vault.conf --foreground' \
	"$R/lib/systemd/system/vaultd.service" || fail "installed unit: ExecStart is not /usr/sbin/vaultd ..."
rc=0
in_root env SYSTEMD_COLORS=0 systemd-analyze verify --recursive-errors=one /lib/systemd/system/vaultd.service \
	>"$T/verify.out" 2>&1 </dev/null || rc=$?
if ((rc != 0)) || grep -qF vaultd.service "$T/verify.out"; then
	sed 's/^/    | /' "$T/verify.out" >&2
	fail "systemd-analyze verify of the installed unit: status $rc or a message about it"
fi
pass "installed unit: ExecStart /usr/sbin/vaultd; systemd-analyze verify clean"
grep -qxF 'ExecStart=/usr/sbin/vault-listen --config /etc/sealvault/vault.conf' \
	"$R/lib/systemd/system/vault-listen.service" || fail "installed vault-listen.service: ExecStart is not /usr/sbin/vault-listen ..."
rc=0
in_root env SYSTEMD_COLORS=0 systemd-analyze verify --recursive-errors=one /lib/systemd/system/vault-listen.service \
	>"$T/verify.out" 2>&1 </dev/null || rc=$?
if ((rc != 0)) || grep -qF vault-listen.service "$T/verify.out"; then
	sed 's/^/    | /' "$T/verify.out" >&2
	fail "systemd-analyze verify of the installed vault-listen.service: status $rc or a message about it"
fi
# Installed, never enabled: it opens a network port.
[[ -z $(find "$R/etc/systemd" -name vault-listen.service 2>/dev/null) ]] ||
	fail "vault-listen.service is enabled after install: $(find "$R/etc/systemd" -name vault-listen.service)"
pass "installed vault-listen.service: ExecStart /usr/sbin/vault-listen; verify clean; not enabled"

# --------------------------------------------------------------- vaultd
# One tenant in conf.d, its root on a real ext4 (the immutable flag), the
# installed config untouched; vaultd as the unit starts it, but by PID.
mkdir -p "$R/srv/sealvault/$TENANT"
loop_ext4 64M "$R/srv/sealvault/$TENANT"
chown "$(in_root id -u $TENANT):$(in_root id -g $TENANT)" "$R/srv/sealvault/$TENANT"
cat >"$R/etc/sealvault/conf.d/$TENANT.conf" <<EOF
tenant $TENANT {
	user $TENANT
	root /srv/sealvault/$TENANT
	profile generic
}
EOF
in_root vaultctl policy check >"$T/check.out" 2>&1 || fail "policy check with the tenant: $(cat "$T/check.out")"
expect_grep "$T/check.out" ': 1 tenants, ' "the tenant file in conf.d is read"

: >"$T/vaultd.log"
chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	/usr/sbin/vaultd --config /etc/sealvault/vault.conf --foreground \
	</dev/null >"$T/vaultd.log" 2>&1 &
vpid=$!
on_exit stop_pid "$vpid"
ready() {
	grep -q '^vaultd: ready:' "$T/vaultd.log" && [[ -S $R/run/sealvault/broker.sock ]]
}
for ((i = 0; i < 100; i++)); do
	ready && break
	kill -0 "$vpid" 2>/dev/null || break
	sleep 0.1
done
if ! ready; then
	sed 's/^/    | /' "$T/vaultd.log" >&2
	fail "the installed vaultd is not ready after 10 s"
fi
expect_grep "$T/vaultd.log" '^vaultd: ready: broker on /run/sealvault/broker.sock, watcher [a-z]+, 1 tenants' \
	"installed vaultd"
rc=0
in_root timeout 30 vaultctl status >"$T/status.out" 2>&1 || rc=$?
if ((rc != 0)); then
	sed 's/^/    | /' "$T/status.out" >&2
	fail "vaultctl status against the installed vaultd failed ($rc; 124: no answer in 30 s)"
fi
expect_grep "$T/status.out" "$TENANT" "vaultctl status names the tenant"
pass "installed vaultd ready with the installed config + 1 tenant; vaultctl status answers"

# An upload through the installed vault-sftp, as the tenant: sealed by the
# installed vaultd's broker before the client hears OK.
printf 'backup %s\n' "$RANDOM" >"$R/tmp/upload"
chmod 0644 "$R/tmp/upload"
printf 'put /tmp/upload first\n' >"$R/tmp/batch"
rc=0
chroot --userspec="$TENANT:$TENANT" "$R" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp \
	timeout 60 sftp -b /tmp/batch \
	-D "/usr/libexec/sealvault/vault-sftp --config /etc/sealvault/vault.conf --require-broker --log-stderr" \
	</dev/null >"$T/sftp.out" 2>&1 || rc=$?
if ((rc != 0)); then
	sed 's/^/    | /' "$T/sftp.out" "$T/vaultd.log" >&2
	fail "sftp put through the installed vault-sftp failed ($rc)"
fi
cmp -s "$R/tmp/upload" "$R/srv/sealvault/$TENANT/first" || fail "the uploaded file differs"
attrs=$(lsattr -d "$R/srv/sealvault/$TENANT/first") || fail "lsattr failed"
[[ ${attrs%% *} == *i* ]] || fail "the uploaded file is not immutable: $attrs"
pass "sftp put through /usr/libexec/sealvault/vault-sftp: stored and immutable"

kill -TERM "$vpid"
for ((i = 0; i < 100; i++)); do
	kill -0 "$vpid" 2>/dev/null || break
	sleep 0.1
done
rc=0
wait "$vpid" || rc=$?
((rc == 0)) || fail "vaultd exited with $rc on SIGTERM"

# The admin's side of taking away a tenant made by hand: its file, its
# root and vaultd's ledger of it (the package keeps these on purge).
rm -f "$R/etc/sealvault/conf.d/$TENANT.conf" "$R/var/lib/sealvault/ledger/$TENANT.ledger"
umount_bounded "$R/srv/sealvault/$TENANT"
rmdir "$R/srv/sealvault/$TENANT"

# --------------------------------------------------------------- upgrade
# Where systemd runs: the same version again is an upgrade for the
# scripts (prerm upgrade, postinst configure OLD): no stop, a reload and a
# try-restart, never a start.
mkdir -p "$R/run/systemd/system"
: >"$R$SYSTEMCTL_LOG"
in_root dpkg -i /tmp/sealvault.deb >"$T/dpkg-u.out" 2>&1 </dev/null || {
	sed 's/^/    | /' "$T/dpkg-u.out" >&2
	fail "dpkg -i over the installed package failed"
}
want=$'--system daemon-reload\ntry-restart vaultd.service vault-listen.service'
[[ $(cat "$R$SYSTEMCTL_LOG") == "$want" ]] ||
	fail "upgrade with systemd: systemctl calls were '$(tr '\n' ';' <"$R$SYSTEMCTL_LOG")', want '${want//$'\n'/;}'"
pass "upgrade with systemd: daemon-reload, try-restart; nothing started or stopped"

# --------------------------------------------------------------- purge
: >"$R$SYSTEMCTL_LOG"
in_root dpkg --purge sealvault >"$T/dpkg-p.out" 2>&1 </dev/null || {
	sed 's/^/    | /' "$T/dpkg-p.out" >&2
	fail "dpkg --purge sealvault failed"
}
sed 's/^/    dpkg --purge | /' "$T/dpkg-p.out" >&2
want=$'stop vault-listen.service vaultd.service\n--system daemon-reload\n--system daemon-reload'
[[ $(cat "$R$SYSTEMCTL_LOG") == "$want" ]] ||
	fail "purge with systemd: systemctl calls were '$(tr '\n' ';' <"$R$SYSTEMCTL_LOG")', want '${want//$'\n'/;}'"
rm -rf "$R/run/systemd"
# shellcheck disable=SC2016 # ${...} are dpkg-query's fields
status=$(in_root dpkg-query -W -f '${db:Status-Status}' sealvault 2>/dev/null || true)
[[ -z $status || $status == not-installed ]] || fail "after purge dpkg says '$status'"
while IFS= read -r f; do
	[[ $f == / || -z $f ]] && continue
	# Directories the package shares with the system (/usr/sbin, ...) stay.
	if [[ -e $R$f || -h $R$f ]] && ! [[ -d $R$f && -d $f ]]; then
		fail "after purge $f is still there"
	fi
done <"$T/contents"
[[ ! -e $R/etc/sealvault ]] || fail "after purge /etc/sealvault is still there"
if ((!SRV_ON_HOST)); then
	[[ ! -e $R/srv/sealvault ]] || fail "after purge the empty /srv/sealvault is still there"
fi
[[ ! -e $R/var/lib/sealvault ]] ||
	fail "after purge the emptied /var/lib/sealvault is still there: $(find "$R/var/lib/sealvault" -printf '%P %M; ')"
upper_state >"$T/after"
if ! diff "$T/before" "$T/after" >"$T/left.diff"; then
	sed 's/^/    | /' "$T/left.diff" >&2
	fail "the purge left the system different from before the install (< before, > after)"
fi
pass "purge: stop + daemon-reload with systemd; no file, directory or change of the package left"
log "total $SECONDS s"
