#!/usr/bin/env bash
# Installs the real, distribution-built programs the real-program tests and benchmarks profile:
# Debian's xgboost CLI and PyTorch (python3-torch, run as /usr/bin/python3). Kept apart from
# setup.sh so the quick start does not wait for them. Safe to run again.
set -euo pipefail
packages=(xgboost python3-torch)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "tidemark setup: installing real programs to test against: ${missing[*]}"
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
