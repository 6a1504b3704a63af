#!/usr/bin/env bash
# amcr set-up for a fresh Debian/Ubuntu machine.
#
#   scripts/setup.sh          set everything up, then start `amcr up a b c`
#   scripts/setup.sh test     set everything up, then run the whole test suite
#
# As root it installs the system packages, a virtualenv at /opt/amcr/venv (or
# $AMCR_PREFIX/venv) built with /usr/bin/python3 (so unprivileged users can run
# it), /usr/local/bin/amcr (not with AMCR_PREFIX),
# and, for the tests, two unprivileged users: amcrtest (with a subordinate ID
# range) and amcrsolo (without). As a normal user it installs into
# ~/.local/share/amcr/venv and names any missing system package in one line.
set -euo pipefail

MODE="${1:-shell}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACKAGES=(python3 python3-venv python3-dev gcc libseccomp2 busybox-static uidmap
          tmux libvterm0 bubblewrap runc)
TEST_USER=amcrtest
SOLO_USER=amcrsolo

say() { printf 'amcr-setup: %s\n' "$*" >&2; }

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        say "missing system packages: ${missing[*]} (run: sudo apt-get install -y ${missing[*]})"
        exit 1
    fi
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true
    apt-get install -y -qq "${missing[@]}" >/dev/null
}

make_users() {
    id "$TEST_USER" >/dev/null 2>&1 || useradd -m -s /bin/bash "$TEST_USER"
    grep -q "^$TEST_USER:" /etc/subuid || usermod --add-subuids 100000-165535 "$TEST_USER"
    grep -q "^$TEST_USER:" /etc/subgid || usermod --add-subgids 100000-165535 "$TEST_USER"
    id "$SOLO_USER" >/dev/null 2>&1 || useradd -m -s /bin/bash "$SOLO_USER"
    # amcrsolo exists to test the single-ID mapping: no subordinate range for it.
    sed -i "/^$SOLO_USER:/d" /etc/subuid /etc/subgid
}

# The project is copied to a world-readable place first: a checkout under /root
# (mode 700) is unreadable to the unprivileged test user.
stage_source() {
    local dest="$1"
    rm -rf "$dest"
    mkdir -p "$dest"
    tar -C "$HERE" --exclude=.git --exclude='*.egg-info' --exclude=__pycache__ \
        --exclude=build --exclude=.venv -cf - . | tar -C "$dest" -xf -
    chmod -R a+rX "$dest"
}

make_venv() {
    local venv="$1" src="$2" extra="$3"
    [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
    "$venv/bin/pip" install -q --disable-pip-version-check "$src$extra"
    install_built_module "$venv" "$src"
    write_launcher "$venv"
}

# The tests import the staged source (pytest puts the project's root first on
# sys.path), so it gets a copy of the compiled modules pip just built.
install_built_module() {
    local venv="$1" src="$2" platlib
    platlib="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')"
    cp "$platlib"/amcr/init/_pid1*.so "$src/amcr/init/"
    cp "$platlib"/amcr/tui/_relay*.so "$src/amcr/tui/"
}

# pip's generated launcher imports `re`, and `site` processes .pth files: together
# about 8 ms of every `amcr run`. Ours runs isolated (-I) without site (-S) and
# puts the virtualenv's site-packages on the path itself.
write_launcher() {
    local venv="$1" purelib
    purelib="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    cat > "$venv/bin/amcr" <<LAUNCHER
#!$venv/bin/python -IS
import sys
sys.path.append("$purelib")
from amcr.cli import main
code = main()
if "threading" not in sys.modules:
    # No thread can be left to wait for (amcr run starts none): skip the
    # interpreter's teardown of every module, 3-5 ms of each amcr run here.
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        sys.exit(code)
    import os
    os._exit(code if isinstance(code, int) else 1)
sys.exit(code)
LAUNCHER
    chmod 755 "$venv/bin/amcr"
}

install_packages
if [ "$(id -u)" -eq 0 ]; then
    BASE="${AMCR_PREFIX:-/opt/amcr}"
    make_users
    mkdir -p "$BASE"
    chmod 755 "$BASE"
    stage_source "$BASE/src"
    make_venv "$BASE/venv" "$BASE/src" "[test]"
    chmod -R a+rX "$BASE"
    [ -n "${AMCR_PREFIX:-}" ] || ln -sf "$BASE/venv/bin/amcr" /usr/local/bin/amcr
else
    BASE="${XDG_DATA_HOME:-$HOME/.local/share}/amcr"
    mkdir -p "$BASE"
    stage_source "$BASE/src"
    make_venv "$BASE/venv" "$BASE/src" "[test]"
fi
VENV="$BASE/venv"
say "installed: $VENV/bin/amcr"

case "$MODE" in
shell)
    exec "$VENV/bin/amcr" up a b c
    ;;
test)
    exec "$BASE/src/scripts/run-tests.sh" "$VENV" "$BASE/src"
    ;;
*)
    say "unknown mode $MODE (use: scripts/setup.sh [shell|test])"
    exit 2
    ;;
esac
