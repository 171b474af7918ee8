# SPDX-License-Identifier: MIT
"""
What the vault must answer to the recorded client traces, per tool and scenario.

Derived from policy/README.md ("Classes and what each operation gets") and the
built-in profile each tool's tenant uses (policy/profiles.c, copied into
PROFILES below; replay.py fails if the two drift apart, so that a profile
change makes someone re-read these expectations). Where the policy says where
a refusal lands (a re-upload is compared at CLOSE, an append is refused at
OPEN), sftp-subsystem/README.md is followed.

Every request of a trace is one of:
  (a) normal: the vault must give the recorded reply. Nothing to declare.
  (b) declared below, one selector per kind of request:
        ("refuse",  OP, GLOB, why)  policy refusal: PERMISSION_DENIED (or FAILURE)
        ("attic",   OP, GLOB, why)  soft: OK, the old version goes to <root>/.sealvault/attic/
        ("ignore",  OP, GLOB, why)  OK without effect (profile "times ignore"/"chmod ignore")
        ("compare", OP, GLOB, why)  re-upload of a sealed name: OK because the bytes are identical
        ("differs", OP, GLOB, why)  the vault answers otherwise than the recorded server, by design
        ("anomaly", OP, GLOB, why)  the recording cannot be reproduced (trace artefact)
  (c) a consequence of an earlier (b): the vault holds other state than the
      recorded server for the paths involved (a listing still shows what a
      refused remove kept, a rename onto a name a refused remove kept fails).
      Found by replay.py, not declared.
replay.py checks both ways: every request on which its policy model acts must
match a selector of that kind, and every selector must match such a request.
OP is the request type as the trace names it (remove, rmdir, rename,
posix-rename, open, close, setstat, fsetstat, exec, ...); GLOB is a policy
pattern (policy/README.md "Patterns") over the vault path without its leading
"/" (the vault's "/" is the recorded account's home, /srv/vault/client), for
exec an fnmatch pattern over the command.

Seed declarations (the state before the trace; the rest is inferred from it):
  "preexisting": files that existed although the trace only lists them
  "sizes": their sizes where an earlier trace of the same series shows them
  "changed": uploads whose content differs from what is stored (a changed
             source file); all other re-uploads send the same bytes
  "absent_in_vault": files the recorded server held that the vault never
             published (an upload cut off before CLOSE stays a hidden partial)
"""

TOOL_PROFILE = {
    "restic": "restic",
    "rclone": "rclone",
    "duplicity": "duplicity",
    "lftp": "lftp",
    "openssh-sftp": "generic",
    "pgbackrest": "pgbackrest",
}

# policy/profiles.c, as the expectations below assume it.
PROFILES = {
    "generic": {"rules": [(".ssh/", "deny", {}), ("**", "seal", {})],
                "times": "refuse", "chmod": "refuse"},
    "restic": {"rules": [(".ssh/", "deny", {}), ("**/*-restic-temp-*", "temp", {}),
                         ("**/locks/*", "mutable", {"max-files": "64", "max-size": "64k"}),
                         ("**", "seal", {})],
               "times": "refuse", "chmod": "refuse"},
    "rclone": {"rules": [(".ssh/", "deny", {}), ("**", "seal", {})],
               "times": "ignore", "chmod": "refuse"},
    "duplicity": {"rules": [(".ssh/", "deny", {}), ("**/.*.part", "temp", {}), ("**", "seal", {})],
                  "times": "refuse", "chmod": "refuse"},
    "lftp": {"rules": [(".ssh/", "deny", {}), ("**/.in.*", "temp", {}), ("**", "seal", {})],
             "times": "ignore", "chmod": "ignore"},
    "pgbackrest": {"rules": [(".ssh/", "deny", {}), ("**/*.pgbackrest.tmp", "temp", {}),
                             ("**", "versioned", {})],
                   "times": "refuse", "chmod": "refuse"},
}

_RCLONE_MTIME = ("ignore", "setstat", "**",
                 "rclone sets the source mtime by path on the finished file: rclone profile 'times ignore'")
_PG_INFO = ("attic", "remove", "pgbr-repo/**",
            "info/manifest rewrite: rename onto the existing name fails (v3 RENAME never replaces), "
            "pgBackRest removes the old file (versioned: into the attic, OK) and renames again")

SCENARIOS = {
    # ---------------------------------------------------------------- restic
    # Uploads are "<name>-restic-temp-<hex>" (temp) posix-renamed onto new names;
    # locks/ is mutable (created and removed by every command): nothing to declare
    # for init, backup1/2, check, restore, snapshots, lock-refresh, stale-lock-create,
    # nolock-snapshots, unlock (removing another process's lock: mutable, allowed).
    "restic-forget-prune": {
        "expect": [
            ("refuse", "remove", "restic-repo/snapshots/*", "forget: snapshots are sealed"),
            ("refuse", "remove", "restic-repo/index/*", "prune: index files are sealed"),
            ("refuse", "remove", "restic-repo/data/*/*", "prune: pack files are sealed"),
        ],
    },

    # ---------------------------------------------------------------- rclone
    "rclone-copy1": {
        "expect": [
            _RCLONE_MTIME,
            ("refuse", "exec", "echo *", "shell-type detection: only md5sum/sha1sum are offered "
             "(rclone falls back to shell type unix)"),
        ],
    },
    "rclone-copy2": {
        "preexisting": ["rclone-dst/dir2/sub2/file005.bin"],
        "changed": ["rclone-dst/dir2/sub2/file005.bin"],
        "expect": [
            ("refuse", "close", "rclone-dst/dir2/sub2/file005.bin",
             "TRUNCATE re-upload of a changed file: sealed, other content, refused at CLOSE"),
            _RCLONE_MTIME,
        ],
    },
    "rclone-delete": {
        "expect": [
            ("refuse", "remove", "rclone-dst/**", "rclone delete: sealed files"),
            ("refuse", "rmdir", "rclone-dst/**", "rclone rmdirs: directories of the seal class"),
        ],
    },
    "rclone-execdenied-copy1": {
        "expect": [
            _RCLONE_MTIME,
            ("refuse", "exec", "echo *", "only md5sum/sha1sum are offered"),
            ("refuse", "exec", "md5 -r", "only md5sum/sha1sum are offered"),
            ("refuse", "exec", "sha1 -r", "only md5sum/sha1sum are offered"),
            ("refuse", "exec", "rclone *", "only md5sum/sha1sum are offered"),
            ("differs", "exec", "md5sum", "the recorded server refused every exec; the vault offers md5sum"),
            ("differs", "exec", "sha1sum", "the recorded server refused every exec; the vault offers sha1sum"),
        ],
    },
    "rclone-execdenied-copy2": {
        "preexisting": ["rclone-v2/d1/f1.bin"],
        "sizes": {"rclone-v2/d1/f1.bin": 7000},     # rclone-execdenied-copy1
        "changed": ["rclone-v2/d1/f1.bin"],
        "expect": [
            ("refuse", "close", "rclone-v2/d1/f1.bin",
             "TRUNCATE re-upload of a changed file: sealed, other content, refused at CLOSE"),
            _RCLONE_MTIME,
        ],
    },
    "rclone-shelltype-none-copy": {"expect": [_RCLONE_MTIME]},
    "rclone-sync": {
        "expect": [
            ("refuse", "remove", "rclone-dst/**", "sync removes a file deleted at the source: sealed"),
        ],
    },
    "rclone-sync-backupdir": {
        "changed": ["rclone-dst/dir3/sub0/file001.bin"],
        "expect": [
            ("refuse", "rename", "rclone-dst/**", "--backup-dir moves the old version away: rename "
             "from a sealed file"),
            ("refuse", "close", "rclone-dst/dir3/sub0/file001.bin",
             "the new version of the changed file: the old one is still there (the move was refused), "
             "sealed, other content, refused at CLOSE"),
            _RCLONE_MTIME,
        ],
    },
    "rclone-touched-copy-hash": {"expect": [_RCLONE_MTIME]},
    "rclone-touched-copy-nohash": {
        "preexisting": ["rclone-dst/dir0/sub0/file002.bin"],
        "expect": [
            ("compare", "close", "rclone-dst/dir0/sub0/file002.bin",
             "mtime changed, content not: the TRUNCATE re-upload sends identical bytes, OK"),
            _RCLONE_MTIME,
        ],
    },

    # ------------------------------------------------------------- duplicity
    "duplicity-full-resume": {
        # duplicity-full-interrupted was killed while writing vol4 (327680 bytes, no CLOSE)
        "preexisting": ["dup-resume/duplicity-full.20261122T141023Z.vol4.difftar.gz"],
        "sizes": {"dup-resume/duplicity-full.20261122T141023Z.vol4.difftar.gz": 327680},
        "absent_in_vault": ["dup-resume/duplicity-full.20261122T141023Z.vol4.difftar.gz"],
        "expect": [],
    },
    "duplicity-remove-older-than": {
        "expect": [
            ("refuse", "remove", "dup/*", "remove-older-than: the expired chain is sealed"),
        ],
    },

    # ------------------------------------------------------------------ lftp
    "lftp-mirror1": {
        "expect": [
            ("ignore", "setstat", "lftp-dst/a.txt", "chmod 0640 of a finished 0644 file does more than "
             "remove write bits: lftp profile 'chmod ignore'"),
        ],
    },
    "lftp-mirror2-delete": {
        "sizes": {"lftp-dst/sub/l1.bin": 50000, "lftp-dst/sub/l2.bin": 100000,
                  "lftp-dst/sub/l3.bin": 150000},          # lftp-mirror1
        "changed": ["lftp-dst/sub/l2.bin"],
        "expect": [
            ("refuse", "remove", "lftp-dst/sub/l2.bin", "'Removing old file' before the re-upload: sealed"),
            ("refuse", "close", "lftp-dst/sub/l2.bin", "the re-upload of the changed file: the old one "
             "is still there, sealed, other content, refused at CLOSE"),
            ("refuse", "remove", "lftp-dst/sub/l3.bin", "--delete: sealed"),
        ],
    },
    "lftp-mirror3-tempfile": {
        "sizes": {"lftp-dst/sub/l1.bin": 50000},            # lftp-mirror1
        "expect": [
            ("refuse", "remove", "lftp-dst/sub/l1.bin", "xfer:use-temp-file removes the target before "
             "the rename: sealed (the rename then fails: v3 RENAME never replaces)"),
        ],
    },
    "lftp-mirror4-overwrite-noperms": {
        "preexisting": ["lftp-dst/sub/l1.bin"],
        "sizes": {"lftp-dst/sub/l1.bin": 50000},            # mirror3's replacement was refused
        "changed": ["lftp-dst/sub/l1.bin"],
        "expect": [
            ("refuse", "close", "lftp-dst/sub/l1.bin", "--overwrite of a changed file: sealed, other "
             "content, refused at CLOSE"),
        ],
    },
    "lftp-put-continue": {
        "expect": [
            ("refuse", "close", "lftp-dst/big.bin", "put -c continues a finished file at its end "
             "(append: no for seal); the re-upload holds other bytes, refused at CLOSE"),
        ],
    },

    # ---------------------------------------------------------- openssh-sftp
    "openssh-sftp-put": {
        "expect": [
            ("compare", "close", "sftp-dst/small.txt", "put of an existing name with the same bytes: OK"),
        ],
    },
    "openssh-sftp-reput": {
        "expect": [
            ("refuse", "open", "sftp-dst/big.bin", "reput: APPEND open of a finished file (append: no "
             "for seal), refused at OPEN"),
        ],
    },

    # ------------------------------------------------------------ pgbackrest
    # Everything is versioned: a replace or remove moves the old version into the
    # attic and answers OK, so pgBackRest gets the replies it recorded.
    "pgbackrest-backup-full": {"expect": [
        _PG_INFO,
    ]},
    "pgbackrest-backup-full2-noexpire": {"expect": [_PG_INFO]},
    "pgbackrest-backup-incr": {"expect": [_PG_INFO]},
    "pgbackrest-backup-resume": {"expect": [
        ("attic", "remove", "pgbr-repo/**", "the resumed backup removes the files of the unfinished "
         "backup directory and the info files it rewrites: versioned, into the attic"),
    ]},
    "pgbackrest-expire": {"expect": [
        ("attic", "remove", "pgbr-repo/**", "expire removes manifests, backup files and WAL: "
         "versioned, into the attic"),
    ]},
}
