#!/usr/bin/env bash
# Installs what tidemark needs to build and test on Debian 12 (the CUDA toolkit is expected at
# $CUDA_HOME or /usr/local/cuda and is not installed here). Safe to run again.
# With arguments, installs those packages instead (scripts/setup-real-programs.sh).
set -euo pipefail
packages=("$@")
((${#packages[@]})) || packages=(
    build-essential cmake ninja-build pkg-config
    libsqlite3-dev sqlite3 libdw-dev libelf-dev libzstd-dev zlib1g-dev
    libgtest-dev libgmock-dev nlohmann-json3-dev libtomlplusplus-dev
    libopenblas-dev
    qt6-base-dev libgl-dev libxkbcommon-dev xvfb xauth
    libopenmpi-dev openmpi-bin
    heaptrack zstd
    dpkg-dev groff-base man-db
    libunwind-dev
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "tidemark setup: installing ${missing[*]}"
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
