#!/usr/bin/env bash
# Sets up and builds (scripts/setup.sh), then runs the demo on the default Vulkan device.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./build/demo/retnet devices
./build/demo/retnet selftest
# The default model (models/default, trained by this engine on Debian's fortunes) writes a fortune.
./build/demo/retnet generate -p "The best" -n 300
