#!/usr/bin/env bash
# Run the whole suite: as root (unit, integration as root) and then, rootless,
# as the unprivileged user amcrtest (integration, security). Called by
# scripts/setup.sh test; VENV and SRC are the installed virtualenv and the
# world-readable copy of the project.
set -uo pipefail
VENV="$1"
SRC="$2"
shift 2          # the rest goes to pytest
TEST_USER="${AMCR_TEST_USER:-amcrtest}"
cd "$SRC"

status=0
check() {   # pytest exit 5 ("no tests ran") is a failure here
    local rc="$1" what="$2"
    if [ "$rc" -ne 0 ]; then
        echo "amcr-tests: $what failed (pytest exit $rc)" >&2
        status=1
    fi
}

if [ "$(id -u)" -eq 0 ]; then
    "$VENV/bin/python" -m pytest -p no:cacheprovider -o console_output_style=classic \
        tests "$@"
    check $? "tests as root"
    runuser -u "$TEST_USER" -- env -i PATH=/usr/local/bin:/usr/bin:/bin \
        HOME="$(getent passwd "$TEST_USER" | cut -d: -f6)" LANG=C.UTF-8 \
        "$VENV/bin/python" -m pytest -p no:cacheprovider -o console_output_style=classic \
        tests/integration tests/security tests/tui "$@"
    check $? "rootless tests as $TEST_USER"
else
    "$VENV/bin/python" -m pytest -p no:cacheprovider tests "$@"
    check $? "tests as $(id -un)"
fi
exit $status
