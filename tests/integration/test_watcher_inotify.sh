#!/usr/bin/env bash
# test_watcher.sh with vaultd's inotify watcher, the fallback when fanotify is refused.
WATCHER_MODE=inotify exec bash "$(dirname "${BASH_SOURCE[0]}")/test_watcher.sh" "$@"
