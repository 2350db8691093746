#!/bin/sh
# Make .venv and install aidnet into it; given "test", make .venv-test instead, with aidnet
# editable and the test extras. The two never share files, so a demo served from .venv keeps
# answering while the suite reinstalls into .venv-test.
# Works on a fresh Debian with only python3: installs python3-venv if missing.
set -eu
cd "$(dirname "$0")/.."
VENV=.venv
[ "${1:-}" = test ] && VENV=.venv-test
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}
if [ ! -x "$VENV/bin/python" ]; then
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        apt_install python3-venv
        python3 -m venv "$VENV"
    fi
fi
if [ "${1:-}" = test ]; then
    if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
        # Debian's own browser and driver: nothing downloads a browser at run time.
        apt_install chromium chromium-driver
    fi
    if ! command -v tor >/dev/null 2>&1 || ! command -v systemd-analyze >/dev/null 2>&1 \
            || ! command -v zbarimg >/dev/null 2>&1; then
        # Debian's tor and systemd check ops/torrc and ops/aidnet.service (tests/test_ops.py);
        # zbarimg reads the two-step QR code off a screenshot (tests/test_totp.py).
        apt_install tor systemd zbar-tools
    fi
    if ! command -v w3m >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        # w3m: the text browser the requester flow is tested in (tests/test_text_browser.py);
        # npm: installs axe-core below (Debian ships no axe-core package).
        apt_install w3m $(command -v npm >/dev/null 2>&1 || echo npm)
    fi
    if ! command -v gcc >/dev/null 2>&1 || ! command -v mount >/dev/null 2>&1; then
        # gcc builds bench/slowfsync.c (tests/test_bench_smoke.py); mount puts an instance on a
        # small tmpfs for the disk-full and read-only tests (tests/test_storage_faults.py, as root).
        apt_install gcc libc6-dev mount
    fi
    if ! command -v openssl >/dev/null 2>&1; then
        # openssl decrypts SQLCipher pages in tests/test_retention.py (erased ciphertext is really gone).
        apt_install openssl
    fi
    if [ ! -f "$VENV/axe/node_modules/axe-core/axe.min.js" ]; then
        # axe-core from the npm registry, pinned, into the venv (test only: no page ever ships it).
        npm install --silent --no-audit --no-fund --prefix "$VENV/axe" axe-core@4.14.1 >/dev/null
    fi
    "$VENV/bin/pip" install -q --disable-pip-version-check -e '.[test]'
else
    "$VENV/bin/pip" install -q --disable-pip-version-check .
fi
