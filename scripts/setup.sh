#!/usr/bin/env bash
# Installs what the build needs (Debian 12 / Ubuntu 22.04+ packages) when it is missing,
# then configures and builds retnet-vk in ./build (Release). Safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config
  libvulkan-dev glslang-tools spirv-tools      # Vulkan loader/headers, GLSL -> SPIR-V, validation of SPIR-V
  mesa-vulkan-drivers vulkan-validationlayers  # lavapipe (Vulkan on the CPU) and the Khronos validation layer
  libglm-dev catch2 nlohmann-json3-dev libfmt-dev libcli11-dev
  libsentencepiece-dev                         # optional: tokenizer.model support (the build works without it)
  fortunes                                     # the text the default demo model was trained on (retnet train --data)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build_type=${RETNET_BUILD_TYPE:-Release}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$build_type" >/dev/null
cmake --build build
