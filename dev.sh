#!/usr/bin/env bash
# One entry point for newcomers and CI: sets up .venv (and mosquitto for tests), then
#   ./dev.sh demo   runs the demo (the whole loop, no camera or broker needed)
#   ./dev.sh test   runs the whole test suite (extra args go to pytest)
#   ./dev.sh setup  only sets up
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

VENV=${DWELL_VENV:-.venv}
PYTHON=${PYTHON:-python3}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    echo "dev.sh: installing $* with apt-get" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

ensure_python() {
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "dev.sh: dwell needs Python >= 3.11 (found: $("$PYTHON" --version 2>&1))" >&2
        exit 1
    fi
    if [ ! -x "$VENV/bin/python" ] && ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
        apt_install python3-venv
    fi
}

setup_venv() {
    ensure_python
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    local stamp="$VENV/.installed" want
    want=$(sha256sum pyproject.toml | cut -c1-16)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -e '.[dev]'
        echo "$want" >"$stamp"
    fi
}

ensure_mosquitto() {
    command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] \
        || apt_install mosquitto mosquitto-clients
}

shared_models() {
    # Tests and benchmarks use the real models in ../shared when a checkout has them.
    if [ -z "${DWELL_MODELS_DIR:-}" ] && [ -d ../shared/models ]; then
        DWELL_MODELS_DIR=$(readlink -f ../shared/models)
        export DWELL_MODELS_DIR
    fi
}

case "${1:-}" in
    setup) setup_venv; ensure_mosquitto ;;
    demo) shift; setup_venv; exec "$VENV/bin/dwell" demo "$@" ;;
    test)
        shift; setup_venv; ensure_mosquitto; shared_models
        # One worker per core, a test file per worker at a time (a file's tests share its
        # fixtures and run in order); DWELL_TEST_WORKERS=0 runs everything in this process.
        exec "$VENV/bin/python" -m pytest -n "${DWELL_TEST_WORKERS:-auto}" --dist loadfile "$@" ;;
    *) echo "usage: ./dev.sh demo | test [pytest args] | setup" >&2; exit 2 ;;
esac
