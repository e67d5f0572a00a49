#!/usr/bin/env bash
# Prepares this machine for the tests and the demo: mosquitto and chromium from Debian, and one
# virtualenv per Home Assistant version we test against. Idempotent: a venv is rebuilt only when its
# pins change.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  local candidate
  for candidate in "${PRINTERNIZER_PYTHON:-}" "$(pyenv root 2>/dev/null)/versions/3.13.0/bin/python" \
    "$HOME/.pyenv/versions/3.13.0/bin/python" python3.13; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
  for candidate in "$HOME"/.pyenv/versions/3.13.*/bin/python; do
    [ -x "$candidate" ] && { echo "$candidate"; return; }
  done
  echo "Python 3.13 not found (looked in pyenv and PATH)" >&2
  exit 1
}

# apt_install PACKAGE: install a Debian package, through sudo unless root
apt_install() {
  echo "Installing $1 from Debian"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$1" >/dev/null
}

# ensure_debian_package COMMAND PACKAGE: install PACKAGE when COMMAND is missing
ensure_debian_package() {
  if command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; then
    return
  fi
  apt_install "$2"
}

# ensure_debian_library NAME PACKAGE: install PACKAGE when the linker knows no libNAME
ensure_debian_library() {
  if /sbin/ldconfig -p 2>/dev/null | grep -q "lib$1\.so"; then
    return
  fi
  apt_install "$2"
}

# make_venv DIR REQUIREMENTS [extra pip flags...]
make_venv() {
  local dir=$1 reqs=$2
  shift 2
  local stamp
  stamp=$(cat "$reqs" scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then
    return
  fi
  echo "Building $dir from $reqs"
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  # This machine's pip.conf names local indexes that may be absent; their warnings are noise.
  "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@" -r "$reqs" 2>&1 |
    { grep -v "is ignored: it is neither a file nor a directory" || true; }
  echo "$stamp" >"$dir/.stamp"
}

PYTHON=$(find_python)
ensure_debian_package mosquitto mosquitto
# HA's camera component loads libturbojpeg at import and logs an error without it (as HA OS has it).
ensure_debian_library turbojpeg libturbojpeg0
ensure_debian_package chromium chromium # the browser test drives it through Playwright
make_venv .venv requirements_test.txt
make_venv .venv-next requirements_next.txt --ignore-requires-python
