#!/usr/bin/env bash
# `make test-debian13` (issue 27): the install route of docs/INSTALL.md ("Debian 13") proven in a
# clean Debian 13 (trixie) root made by debootstrap, as a user would take it:
#   1. debootstrap --variant=minbase trixie into DEBIAN13_ROOT (default .debian13-root, gitignored;
#      kept and reused by later runs, DEBIAN13_FRESH=1 makes a new one);
#   2. inside (chroot, with /proc, /sys, /dev mounted and unmounted afterwards): apt-get install
#      the packages INSTALL.md names for Debian 13, plus pocl-opencl-icd (the OpenCL driver on the
#      CPU that stands in for CUDA here) and ca-certificates;
#   3. a fresh `git clone` of this repository's committed HEAD into the root, and there
#      `make venv && make gpu-check DEVICE=opencl0:0` (as root, so the bootstrap installs what it
#      finds missing; chromium is skipped: only the HTML report's test uses it).
# Needs root, debootstrap (apt-get install debootstrap) and the Debian archive (DEBIAN_MIRROR);
# PyPI is reached through the host's /etc/resolv.conf (and, behind a TLS-intercepting proxy, the
# CA certificates the host added in /usr/local/share/ca-certificates). Where GitHub is not reachable,
# LIBGPUARRAY_SOURCE names a local libgpuarray-0.7.6.tar.gz, copied into the root.
# Each step's time is printed; the whole log goes to DEBIAN13_ROOT.log. Exit 0 only on GPU OK.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
ROOT=${DEBIAN13_ROOT:-$REPO/.debian13-root}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEVICE=${DEVICE:-opencl0:0}
LOG=$ROOT.log
# What INSTALL.md tells a Debian 13 user to install, and the OpenCL driver for DEVICE=opencl0:0.
PACKAGES="git make gcc g++ cmake python3-venv python3-dev libopenblas-dev ca-certificates pocl-opencl-icd"

die() { echo "[debian13] $*" >&2; exit 1; }
say() { echo "[debian13] $*"; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap and chroot): run it as root"
command -v debootstrap >/dev/null 2>&1 || die "debootstrap not found: apt-get install debootstrap"
git -C "$REPO" rev-parse HEAD >/dev/null 2>&1 || die "$REPO is not a git checkout: the test clones its HEAD"
if [ -n "${LIBGPUARRAY_SOURCE:-}" ] && [ ! -f "$LIBGPUARRAY_SOURCE" ]; then
    die "LIBGPUARRAY_SOURCE=$LIBGPUARRAY_SOURCE is not a file: name the libgpuarray-0.7.6.tar.gz"
fi

# One run at a time per root.
mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock -n 9 || die "another test-debian13 is using $ROOT (lock $ROOT.lock held): wait for it"

MOUNTED=()
cleanup() {
    local i
    for (( i=${#MOUNTED[@]}-1; i>=0; i-- )); do umount -l "${MOUNTED[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'echo "[debian13] interrupted: mounts undone; run again to continue" >&2; exit 130' INT TERM
mnt() {  # mnt TARGET mount-args...
    local target=$1; shift
    mkdir -p "$target"
    mount "$@" "$target"
    MOUNTED+=("$target")
}
in_root() { chroot "$ROOT" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
now() { date +%s; }
start=$(now)
: >"$LOG"
step() {  # step NAME command...: run, log, print the time; stop on failure with the log's tail
    local name=$1 t0; shift
    t0=$(now)
    say "$name ..."
    if ! "$@" >>"$LOG" 2>&1; then
        tail -15 "$LOG" | sed 's/^/    /' >&2
        die "$name FAILED after $(( $(now) - t0 ))s (log: $LOG)"
    fi
    say "$name: $(( $(now) - t0 ))s"
}

if [ "${DEBIAN13_FRESH:-0}" = 1 ]; then rm -rf "$ROOT"; fi
if [ ! -e "$ROOT/.rcnreid-debootstrapped" ]; then
    rm -rf "$ROOT"
    step "debootstrap trixie ($MIRROR)" debootstrap --variant=minbase trixie "$ROOT" "$MIRROR"
    touch "$ROOT/.rcnreid-debootstrapped"
fi

mnt "$ROOT/proc" -t proc proc
mnt "$ROOT/sys" -t sysfs sysfs
mnt "$ROOT/dev" --bind /dev
mnt "$ROOT/dev/pts" --bind /dev/pts
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"

# shellcheck disable=SC2086
step "apt-get install $PACKAGES" in_root sh -c \
    "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PACKAGES"
# A network whose TLS goes through a proxy with its own certificate authority (as here): the
# root trusts what the host added to its store, as a user there would have to
# (DEBIAN13_HOST_CA=0: not).
if [ "${DEBIAN13_HOST_CA:-1}" = 1 ] && ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    mkdir -p "$ROOT/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
    step "update-ca-certificates (the host's added CAs: $(cd /usr/local/share/ca-certificates && echo *.crt))" \
        in_root update-ca-certificates
fi
say "$(in_root sh -c '. /etc/os-release; echo "$PRETTY_NAME"'), $(in_root python3 --version), $(in_root cmake --version | head -1), $(in_root gcc --version | head -1)"

rm -rf "$ROOT/root/rcnreid"
step "git clone (HEAD $(git -C "$REPO" rev-parse --short HEAD))" git clone -q "$REPO" "$ROOT/root/rcnreid"
env_src=()
if [ -n "${LIBGPUARRAY_SOURCE:-}" ]; then
    cp "$LIBGPUARRAY_SOURCE" "$ROOT/root/libgpuarray-0.7.6.tar.gz"
    env_src=(LIBGPUARRAY_SOURCE=/root/libgpuarray-0.7.6.tar.gz)
fi
step "make venv" in_root "${env_src[@]}" RCNREID_NO_CHROMIUM=1 make -C /root/rcnreid venv
grep '^\[bootstrap\]' "$LOG" | sed 's/^/    /'
step "make gpu-check DEVICE=$DEVICE" in_root make -C /root/rcnreid gpu-check DEVICE="$DEVICE"
verdict=$(grep -E "GPU OK|GPU FAIL|GPU NOT" "$LOG" | tail -1)
echo "$verdict" | grep -q "GPU OK" || die "gpu-check gave no GPU OK: ${verdict:-see $LOG}"
say "$verdict"
say "Debian 13 chroot: make venv && make gpu-check DEVICE=$DEVICE passed in $(( $(now) - start ))s"
