#!/bin/sh
# Install the system packages the test suite uses (redis-server, chromium, postgresql)
# where they are missing and this machine can: as root or with sudo, via apt-get.
# Tests that need a missing one say so in one line and are skipped.
missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing="$missing chromium"
# Debian keeps PostgreSQL's initdb and pg_ctl under /usr/lib/postgresql/<version>/bin, off the PATH;
# the tests' fixture (tests/rooms/postgres_fixtures.py) looks there too.
command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: apt-get not found; install$missing yourself to run every test"
    exit 0
fi
if [ "$(id -u)" = 0 ]; then sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"
else
    echo "system-deps: not root and no sudo; install$missing yourself to run every test"
    exit 0
fi
echo "system-deps: installing$missing"
$sudo apt-get update -qq >/dev/null 2>&1
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1 \
    || echo "system-deps: apt-get could not install$missing"
exit 0
