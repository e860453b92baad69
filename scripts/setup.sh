#!/usr/bin/env bash
# Installs what MRS needs: Debian packages for headless MuJoCo rendering
# (Mesa EGL, with OSMesa as a fallback) and the pinned Python packages.
set -euo pipefail
cd "$(dirname "$0")/.."

packages="libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libosmesa6"
missing=""
for package in $packages; do
  dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
if [ -n "$missing" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "Installing Debian packages:$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
      --no-install-recommends $missing >/dev/null
  else
    echo "warning: no apt-get; install the equivalents of:$missing" >&2
  fi
fi

python -m pip install -q -r requirements.txt
