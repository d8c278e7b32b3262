#!/usr/bin/env bash
# `make bundle-check BUNDLE=dist/rcnreid-bundle-....tar.xz`: prove the bundle is relocatable.
# Unpacks it into a new temporary folder and runs its `rcnreid gpu-check --device $DEVICE`
# (default opencl0:0, pocl) with a fresh Theano compile cache. When root and `unshare` works,
# inside a private mount namespace where the checkout, the venv and the Python the bundle was
# made from are hidden under empty folders, so nothing can be found at its old path.
set -uo pipefail
bundle=${1:?usage: bundle_check.sh BUNDLE.tar.xz [VENV]}
venv=${2:-.venv}
DEVICE=${DEVICE:-opencl0:0}
[ -f "$bundle" ] || { echo "[bundle-check] $bundle not found: run make bundle"; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
dest=$(mktemp -d /tmp/rcnreid-bundle-check-XXXXXX)
echo "[bundle-check] unpacking $bundle ($(du -m "$bundle" | cut -f1) MiB) into $dest"
tar -xJf "$bundle" -C "$dest" || { echo "[bundle-check] cannot unpack $bundle"; exit 1; }
hide=("$repo")
if [ -f "$venv/pyvenv.cfg" ]; then
    home=$(sed -n 's/^home *= *//p' "$venv/pyvenv.cfg")           # the base Python's bin/
    [ -n "$home" ] && hide+=("$(cd "$home/.." && pwd)")
fi
run="cd '$dest' && XDG_CACHE_HOME='$dest/cache' ./rcnreid-bundle/bin/rcnreid gpu-check --device '$DEVICE'"
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
    mounts=""
    for d in "${hide[@]}"; do mounts="$mounts mount -t tmpfs -o size=1m rcnreid-hidden '$d' &&"; done
    echo "[bundle-check] hidden: ${hide[*]}"
    unshare -m sh -c "$mounts $run"
else
    echo "[bundle-check] not root or no unshare: running without hiding ${hide[*]}"
    sh -c "$run"
fi
rc=$?
if [ "$rc" = 0 ]; then rm -rf "$dest"; else echo "[bundle-check] left $dest for inspection"; fi
exit $rc
