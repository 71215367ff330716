#!/usr/bin/env bash
# Install dwell as a systemd service on a Raspberry Pi 4/5 (64-bit Raspberry Pi OS Trixie or
# Bookworm) or Debian 13/12. Idempotent: run it again after `git pull` to upgrade; your
# /etc/dwell/dwell.toml is never overwritten.
#
#   sudo deploy/install.sh                    USB camera (or a file/RTSP source), isolated venv
#   sudo deploy/install.sh --camera csi       Pi camera module (picamera2): system-site venv
#   sudo deploy/install.sh --with-mosquitto   also a local broker with dwell's ACL config
#   deploy/install.sh --dry-run               list every step, change nothing (no root needed)
# The Debian release comes from /etc/os-release (--release trixie|bookworm overrides it).
set -euo pipefail

SRC=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
PREFIX=/opt/dwell
ETC=/etc/dwell
# The service's dynamic user gets this group, so it can read a config holding the MQTT password
# that nobody else may read (0640 root:dwell).
GROUP=dwell
RELEASE=auto
STATE=/var/lib/dwell
UNIT=/etc/systemd/system/dwell.service
CAMERA=auto
WITH_MOSQUITTO=no
DRY_RUN=no
MOSQUITTO_TODO=no
DONE=()

usage() {
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    echo "options: --camera auto|csi|usb  --with-mosquitto  --prefix DIR  --release trixie|bookworm"
    echo "         --dry-run  --help"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=yes ;;
        --camera) CAMERA=${2:?--camera needs auto, csi or usb}; shift ;;
        --camera=*) CAMERA=${1#*=} ;;
        --with-mosquitto) WITH_MOSQUITTO=yes ;;
        --prefix) PREFIX=${2:?--prefix needs a directory}; shift ;;
        --prefix=*) PREFIX=${1#*=} ;;
        --release) RELEASE=${2:?--release needs trixie or bookworm}; shift ;;
        --release=*) RELEASE=${1#*=} ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
VENV=$PREFIX/venv
STEP=0

step() {
    STEP=$((STEP + 1))
    printf '\n[%d] %s\n' "$STEP" "$*"
}

# Every change goes through run: printed always, executed unless --dry-run.
run() {
    printf '    + %s\n' "$*"
    if [ "$DRY_RUN" = no ]; then
        "$@"
    fi
}

note() { printf '    %s\n' "$*"; }
did() {
    if [ "$DRY_RUN" = yes ]; then DONE+=("(would have) $*"); else DONE+=("$*"); fi
}

check_platform() {
    step "check platform"
    local arch
    arch=$(uname -m)
    note "architecture: $arch; OS: $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release 2>/dev/null | tr -d '"')"
    if [ "$arch" = armv7l ] || [ "$arch" = armv6l ]; then
        echo "install.sh: 32-bit ARM has no OpenCV/numpy wheels; install 64-bit Raspberry Pi OS" >&2
        exit 1
    fi
    if [ "$DRY_RUN" = no ] && [ "$(id -u)" != 0 ]; then
        echo "install.sh: run as root (sudo), or with --dry-run to see the steps" >&2
        exit 1
    fi
    detect_release
    if [ "$CAMERA" = auto ]; then
        # A CSI camera shows up through libcamera; picamera2 comes from apt (system numpy).
        if python3 -c 'import picamera2' >/dev/null 2>&1 \
                || { command -v rpicam-hello >/dev/null 2>&1 \
                     && rpicam-hello --list-cameras 2>/dev/null | grep -q '^[0-9] :'; }; then
            CAMERA=csi
        else
            CAMERA=usb
        fi
        note "camera: $CAMERA (detected; override with --camera csi|usb)"
    fi
    case "$CAMERA" in
        csi|usb) ;;
        *) echo "install.sh: --camera must be auto, csi or usb (got $CAMERA)" >&2; exit 2 ;;
    esac
}

# Trixie (Debian 13, Python 3.13) ships numpy 2, so its picamera2 imports beside OpenCV 5;
# Bookworm's picamera2 is built against numpy 1.24 and needs OpenCV 4.11 with numpy < 2.
detect_release() {
    if [ "$RELEASE" = auto ]; then
        RELEASE=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null | tr -d '"')
        note "release: ${RELEASE:-unknown} (from /etc/os-release; override with --release)"
    fi
    case "$RELEASE" in
        bookworm|trixie) ;;
        bullseye|buster|stretch)
            echo "install.sh: $RELEASE is too old (dwell needs Python >= 3.11: Trixie or Bookworm)" >&2
            exit 1 ;;
        *) note "release ${RELEASE:-unknown}: treated like Trixie (numpy 2, OpenCV 5)"; RELEASE=trixie ;;
    esac
}

apt_packages() {
    local pkgs=(python3 python3-venv python3-pip ca-certificates)
    if [ "$CAMERA" = csi ]; then
        pkgs+=(python3-picamera2 python3-libcamera)
    fi
    if [ "$WITH_MOSQUITTO" = yes ]; then
        pkgs+=(mosquitto mosquitto-clients)
    fi
    step "apt packages: ${pkgs[*]}"
    local missing=()
    local p
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        note "all installed already"
        return
    fi
    note "missing: ${missing[*]}"
    run apt-get update -qq
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    did "installed apt packages: ${missing[*]}"
}

copy_source() {
    step "copy dwell's source to $PREFIX/src (the vendored models are package data in edge/perception/data/)"
    run install -d -m 0755 "$PREFIX/src" "$PREFIX/docs"
    # tar, not cp: leave the developer's venv, git history and state behind.
    printf '    + tar -C %s -cf - . | tar -C %s -xf -  (without .venv .git state caches)\n' \
        "$SRC" "$PREFIX/src"
    if [ "$DRY_RUN" = no ]; then
        tar -C "$SRC" --exclude=./.venv --exclude=./.git --exclude=./state \
            --exclude='*.egg-info' --exclude=__pycache__ --exclude=.mypy_cache \
            --exclude=.pytest_cache --exclude=.ruff_cache -cf - . | tar -C "$PREFIX/src" -xf -
    fi
    run cp -r "$SRC/docs/." "$PREFIX/docs/"
    did "copied the source to $PREFIX/src"
}

make_venv() {
    local mode
    if [ "$CAMERA" = csi ] && [ "$RELEASE" = bookworm ]; then
        mode="--system-site-packages (picamera2 from apt), opencv-python-headless 4.11 + numpy<2"
    elif [ "$CAMERA" = csi ]; then
        mode="--system-site-packages (picamera2 and numpy 2 from apt), opencv-python-headless 5"
    else
        mode="isolated, opencv-python-headless 5 (about 2x faster YOLOX)"
    fi
    step "Python venv $VENV: $mode"
    local marker="$VENV/.dwell-camera"
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$marker" 2>/dev/null)" != "$CAMERA-$RELEASE" ]; then
        note "existing venv was made for another camera type or release: recreating it"
        run rm -rf "$VENV"
    fi
    if [ ! -x "$VENV/bin/python" ] || [ "$DRY_RUN" = yes ]; then
        if [ "$CAMERA" = csi ]; then
            run python3 -m venv --system-site-packages "$VENV"
        else
            run python3 -m venv "$VENV"
        fi
    fi
    run "$VENV/bin/pip" install -q --upgrade pip
    if [ "$CAMERA" = csi ] && [ "$RELEASE" = bookworm ]; then
        # Bookworm's python3-picamera2 is built against numpy 1.24: numpy 2 breaks its import,
        # and OpenCV >= 4.12 needs numpy 2. Pin both for this venv and everything after.
        run sh -c "printf 'numpy<2\nopencv-python-headless==4.11.0.86\n' > '$PREFIX/constraints.txt'"
    else
        # Trixie's numpy 2 (apt) satisfies OpenCV 5, so pip keeps the one picamera2 was built with.
        run sh -c "printf 'opencv-python-headless>=5,<6\n' > '$PREFIX/constraints.txt'"
    fi
    run "$VENV/bin/pip" install -q -c "$PREFIX/constraints.txt" -e "$PREFIX/src"
    run sh -c "echo $CAMERA-$RELEASE > '$marker'"
    run "$VENV/bin/dwell" --version
    did "venv $VENV ($mode) with dwell installed"
}

install_config() {
    step "configuration $ETC/dwell.toml (kept if it exists; 0640 root:$GROUP: it may hold the MQTT password)"
    if ! getent group "$GROUP" >/dev/null 2>&1; then
        run groupadd --system "$GROUP"
    fi
    # setgid, group-writable: the console's saves (a new file renamed over dwell.toml, the old
    # one kept as dwell.toml.bak) stay in the dwell group; the unit's ReadWritePaths allows it
    run install -d -m 2775 -o root -g "$GROUP" "$ETC"
    if [ -f "$ETC/dwell.toml" ] && [ "$DRY_RUN" = no ]; then
        note "$ETC/dwell.toml exists: left as it is (compare with $PREFIX/src/config/dwell.toml)"
        # Only the service (through its group) and root may read a password in it.
        run chown "root:$GROUP" "$ETC/dwell.toml"
        run chmod 0640 "$ETC/dwell.toml"
        run "$VENV/bin/dwell" config check "$ETC/dwell.toml"
        return
    fi
    local uri=0 tmp
    [ "$CAMERA" = csi ] && uri=picamera2
    tmp=$(mktemp)
    sed -e "s#^state_dir = .*#state_dir = \"$STATE\"#" -e "s#^uri = \"0\"#uri = \"$uri\"#" \
        "$SRC/config/dwell.toml" >"$tmp"
    run install -m 0640 -o root -g "$GROUP" "$tmp" "$ETC/dwell.toml"
    rm -f "$tmp"
    run "$VENV/bin/dwell" config check "$ETC/dwell.toml"
    did "wrote $ETC/dwell.toml (source $uri, state $STATE; mode 0640 root:$GROUP)"
}

install_unit() {
    step "systemd unit $UNIT (Type=notify, watchdog, DynamicUser, state in $STATE)"
    note "$STATE is created by systemd (StateDirectory=dwell) for the service's dynamic user"
    local tmp
    tmp=$(mktemp)
    sed "s#/opt/dwell/venv#$VENV#; s#/opt/dwell/docs#$PREFIX/docs#" \
        "$SRC/deploy/systemd/dwell.service" >"$tmp"
    run install -m 0644 "$tmp" "$UNIT"
    rm -f "$tmp"
    if command -v systemd-analyze >/dev/null 2>&1; then
        run systemd-analyze verify "$UNIT"
    fi
    run systemctl daemon-reload
    # No real-time clock on a Pi: let time-sync.target wait for NTP before dwell starts.
    run systemctl enable systemd-time-wait-sync.service \
        || note "systemd-time-wait-sync is not available: pings before NTP sync carry a wrong time"
    run systemctl enable dwell.service
    run systemctl restart dwell.service
    did "installed, enabled and (re)started dwell.service"
}

install_mosquitto() {
    [ "$WITH_MOSQUITTO" = yes ] || return 0
    step "mosquitto with dwell's logins, ACL and TLS listener (deploy/mosquitto/)"
    local conf
    for conf in "$SRC"/deploy/mosquitto/*.conf; do
        [ -e "$conf" ] || continue
        case "$conf" in
            *bridge*) continue ;;  # bridges are for chains of shops: see docs/deploy.md
        esac
        run install -m 0644 "$conf" /etc/mosquitto/conf.d/
    done
    if [ -e "$SRC/deploy/mosquitto/dwell.acl" ]; then
        run install -m 0640 -g mosquitto "$SRC/deploy/mosquitto/dwell.acl" /etc/mosquitto/
    fi
    if [ ! -e /etc/mosquitto/dwell.passwd ] || [ "$DRY_RUN" = yes ]; then
        run install -m 0600 -o mosquitto -g mosquitto /dev/null /etc/mosquitto/dwell.passwd
    fi
    run systemctl enable mosquitto.service
    if [ -e /etc/mosquitto/certs/broker.crt ] && [ -s /etc/mosquitto/dwell.passwd ]; then
        run systemctl restart mosquitto.service
        did "mosquitto restarted with dwell's config"
    else
        note "not restarting mosquitto yet: it needs users in /etc/mosquitto/dwell.passwd and"
        note "a certificate in /etc/mosquitto/certs/ (deploy/mosquitto/README.md), then:"
        note "  sudo systemctl restart mosquitto"
        did "mosquitto configured for dwell (add users and a certificate, then restart it)"
        MOSQUITTO_TODO=yes
    fi
}

lan_address() {
    # the first address of this machine on the LAN (what the console's listen should name)
    local addr
    addr=$(hostname -I 2>/dev/null | awk '{print $1}')
    echo "${addr:-0.0.0.0}"
}

summary() {
    printf '\n== done%s ==\n' "$([ "$DRY_RUN" = yes ] && echo ' (dry run: nothing was changed)')"
    local line
    for line in "${DONE[@]}"; do
        printf '  - %s\n' "$line"
    done
    cat <<EOF

What you do next:
  1. Point the camera at the shop floor so faces are large enough (docs/deploy.md).
  2. Take a snapshot with a coordinate grid and draw your zones from it:
       sudo $VENV/bin/dwell --config $ETC/dwell.toml zones --snapshot /tmp/zones.png
     then edit [[zones]] and the [policy] thresholds in $ETC/dwell.toml and check them:
       sudo $VENV/bin/dwell config check $ETC/dwell.toml   (root: the file is 0640)
  3. Apply the new zones/thresholds without losing current visits:
       sudo systemctl reload dwell        (a full restart: sudo systemctl restart dwell)
  4. Watch it work:  journalctl -u dwell -f    and    $VENV/bin/dwell watch
  5. Put the privacy notice on the door: $PREFIX/docs/privacy-notice.md
  Or do 2 and 3 in a browser, the owner's console (docs/console.md): add to $ETC/dwell.toml
       [console]
       listen = "$(lan_address):8788"
       password = "a long passphrase"
     then sudo systemctl restart dwell and open http://$(lan_address):8788 on the shop's LAN
     (it saves to $ETC/dwell.toml, keeping the previous file as dwell.toml.bak).
EOF
    if [ "$MOSQUITTO_TODO" = yes ]; then
        cat <<EOF
  6. mosquitto: create the users and the certificate ($PREFIX/src/deploy/mosquitto/README.md),
     put the sensor's login into [mqtt] of $ETC/dwell.toml, then
       sudo systemctl restart mosquitto dwell
EOF
    fi
}

check_platform
apt_packages
copy_source
make_venv
install_config
install_mosquitto
install_unit
summary
