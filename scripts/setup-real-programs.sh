#!/usr/bin/env bash
# Installs the real, distribution-built programs the real-program tests and benchmarks profile:
# Debian's xgboost CLI and PyTorch (python3-torch, run as /usr/bin/python3). Kept apart from
# setup.sh's list so the quick start does not wait for them. Safe to run again.
set -euo pipefail
exec "$(cd "$(dirname "$0")" && pwd)/setup.sh" xgboost python3-torch
