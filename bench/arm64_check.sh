#!/bin/sh
# What installs on the Pi's architecture, and whether its boxes equal x86's -- without a Pi.
#
# Not part of CI. Needs root, debootstrap, qemu-user-static and the qemu-aarch64 binfmt entry
# registered (ls /proc/sys/fs/binfmt_misc/qemu-aarch64); under qemu everything is ~200x
# slower, so this checks correctness, never speed. It builds an arm64 Debian userland in
# $ARM64_ROOT (default /var/tmp/dwell-arm64, kept for the next run), installs this checkout
# there with pip (opencv, numpy, onnxruntime from their aarch64 wheels), tries ncnn and pnnx,
# and compares every runtime's boxes on 4 TUD-Stadtmitte frames with x86's cv2.dnn boxes.
#
#   sudo DWELL_SHARED=/work/shared DWELL_MODELS_DIR=/work/shared/models bench/arm64_check.sh
set -eu
ROOT=${ARM64_ROOT:-/var/tmp/dwell-arm64}
SUITE=${ARM64_SUITE:-trixie}
REPO=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${DWELL_SHARED:?set DWELL_SHARED to the shared folder (footage)}
MODELS=${DWELL_MODELS_DIR:?set DWELL_MODELS_DIR to the folder with yolox_nano.onnx}
PY=${PYTHON:-$REPO/.venv/bin/python}

[ "$(id -u)" = 0 ] || { echo "arm64_check: needs root (debootstrap, chroot)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "arm64_check: apt-get install debootstrap" >&2; exit 2; }
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || {
    echo "arm64_check: no qemu-aarch64 binfmt entry: apt-get install qemu-user-static binfmt-support" >&2
    exit 2; }

echo "== x86 reference boxes"
DWELL_SHARED=$SHARED DWELL_MODELS_DIR=$MODELS "$PY" "$REPO/bench/arm64_boxes.py" dump /tmp/dwell-x86-boxes.json

if [ ! -x "$ROOT/usr/bin/python3" ]; then
    echo "== debootstrap --arch=arm64 $SUITE $ROOT"
    debootstrap --arch=arm64 --include=python3,python3-venv,ca-certificates "$SUITE" "$ROOT" \
        http://deb.debian.org/debian
fi

echo "== copy the checkout, the model and the clip"
rm -rf "$ROOT/dwell" "$ROOT/shared"
mkdir -p "$ROOT/dwell" "$ROOT/shared/models" "$ROOT/shared/conv" \
    "$ROOT/shared/footage/TUD-Stadtmitte"
git -C "$REPO" archive HEAD | tar -x -C "$ROOT/dwell"
cp "$MODELS/yolox_nano.onnx" "$ROOT/shared/models/"
cp "$SHARED/footage/TUD-Stadtmitte/TUD-Stadtmitte.mp4" "$ROOT/shared/footage/TUD-Stadtmitte/"
cp /tmp/dwell-x86-boxes.json "$ROOT/x86_boxes.json"

# The host's CA bundle: where egress goes through a TLS-inspecting proxy, pip in the chroot
# must trust the same roots as the host's (its own bundle has only the public ones).
cp "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" "$ROOT/host-ca.crt"
run() { chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin \
    PIP_CERT=/host-ca.crt SSL_CERT_FILE=/host-ca.crt PIP_DEFAULT_TIMEOUT=180 sh -c "$1"; }

echo "== install on arm64"
run "python3 -m venv /venv && /venv/bin/pip install -q /dwell" && echo "dwell: installed" \
    || echo "dwell: DOES NOT INSTALL"
run "/venv/bin/python -c 'import cv2, numpy, onnxruntime; print(\"opencv\", cv2.__version__, \"numpy\", numpy.__version__, \"onnxruntime\", onnxruntime.__version__)'" || true
for extra in ncnn pnnx; do
    run "/venv/bin/pip install -q $extra" && echo "$extra: installs on arm64" \
        || echo "$extra: DOES NOT INSTALL on arm64"
done

echo "== ncnn conversion on arm64 (needs pnnx there)"
run "/venv/bin/dwell models install yolox-nano --from /shared/models --to /shared/conv && cp /shared/conv/* /shared/models/" \
    || echo "dwell models install: FAILED on arm64"

echo "== boxes on arm64 against x86 cv2.dnn"
run "cd /dwell && DWELL_SHARED=/shared DWELL_MODELS_DIR=/shared/models /venv/bin/python bench/arm64_boxes.py compare /x86_boxes.json"
