#!/usr/bin/env bash
# Sets up and builds (scripts/setup.sh), then runs the whole test suite on the default
# Vulkan device (lavapipe where there is no GPU) with the validation layer on.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
ctest --test-dir build --output-on-failure -j "$(nproc)"
