#!/usr/bin/env bash
# Installs what MRS needs: Debian packages for headless MuJoCo rendering
# (Mesa EGL, with OSMesa as a fallback), the pinned Python packages and this
# project (editable, so `import mrs_tf` works from anywhere).
#
#   bash scripts/setup.sh          TensorFlow's GPU build where an NVIDIA
#                                  driver answers, its CPU build elsewhere
#   bash scripts/setup.sh --gpu    the GPU build regardless (docker build
#                                  sees no GPU)
#   bash scripts/setup.sh --cpu    the CPU build regardless
#   --deps-only                    everything but this project (the Docker
#                                  image's cached layer, before the code)
#
# The CPU build on CPU-only machines: the GPU build logs an error line
# (failed call to cuInit) in every process that finds no GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

build=auto
project=yes
for arg in "$@"; do
  case "$arg" in
    --gpu) build=gpu ;;
    --cpu) build=cpu ;;
    --deps-only) project=no ;;
    *) echo "usage: bash scripts/setup.sh [--gpu|--cpu] [--deps-only]" >&2
       exit 2 ;;
  esac
done
if [ "$build" = auto ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    build=gpu
  else
    build=cpu
  fi
fi

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

installed() { python -m pip show -q "$1" >/dev/null 2>&1; }
if [ "$build" = gpu ]; then
  # Both builds install the same `tensorflow` package directory.
  if installed tensorflow-cpu; then python -m pip uninstall -q -y tensorflow-cpu; fi
  python -m pip install -q -r requirements.txt
else
  if installed tensorflow; then python -m pip uninstall -q -y tensorflow; fi
  version=$(sed -n 's/^tensorflow==//p' requirements.txt)
  keras=$(grep '^tf-keras==' requirements.txt)
  others=$(mktemp)
  grep -v '^tensorflow==\|^tf-keras==' requirements.txt > "$others"
  python -m pip install -q "tensorflow-cpu==$version" -r "$others"
  rm -f "$others"
  # tf-keras declares a dependency on the GPU build's name; the CPU build
  # provides the same package.
  python -m pip install -q --no-deps "$keras"
fi
if [ "$project" = yes ]; then
  python -m pip install -q --no-deps -e .
fi
echo "Installed (TensorFlow $build build)."
