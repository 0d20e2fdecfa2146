#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine, then runs it.
# Debian packages: the Arm toolchain and QEMU (needs root or sudo); Python packages: into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v arm-none-eabi-gcc >/dev/null || need+=(gcc-arm-none-eabi libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null || need+=(qemu-system-arm)
command -v gcc >/dev/null || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# Python packages: installed when the venv is new or what the install depends on changed (the package
# metadata, the compiled search's source, the Python), not on every run; PEXCP_REINSTALL=1 forces it.
[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=.venv/.pexcp-install-stamp
key=$( (cat pyproject.toml setup.py pexcp/layout/_canonical.c; .venv/bin/python --version) | sha256sum | cut -d' ' -f1)
if [ "${PEXCP_REINSTALL:-0}" = 1 ] || [ "$(cat "$stamp" 2>/dev/null)" != "$key" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  echo "$key" > "$stamp"
fi
exec .venv/bin/python -m pytest -q "$@"
