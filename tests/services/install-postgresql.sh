#!/usr/bin/env bash
# The PostgreSQL server the tune tests start (tests/postgres.py): Debian's package, installed
# when missing and this runs as root with apt-get (CI). Elsewhere it says what to do; the tests
# that need the server are then skipped with the reason (a failure under CI=true).
set -euo pipefail
if command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's postgresql (server for the shared-study tests)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    exit 0
fi
echo "No PostgreSQL server found: the shared-study tests will be skipped." \
     "Install it (e.g. sudo apt-get install postgresql) to run them." >&2
