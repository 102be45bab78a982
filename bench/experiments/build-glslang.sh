#!/usr/bin/env bash
# Builds a glslangValidator that compiles GL_NV_cooperative_matrix2 (Debian 12's cannot), for
# matmul-coopmat2.patch's build (-DRETNET_GLSLANG_COOPMAT2=...): from a glslang source tree (a
# git directory, e.g. the one the `fetch` tool gives for github:KhronosGroup/glslang), without
# its optimizer or HLSL, into build-glslang/ (about 7 minutes on two cores). Prints the path.
# Usage: bench/experiments/build-glslang.sh /work/.mirror/KhronosGroup+glslang/repo
set -eu
cd "$(git rev-parse --show-toplevel)"
src=build-glslang/src
[ -d $src ] || git clone -q "$1" $src
cmake -S $src -B build-glslang/out -G Ninja -DCMAKE_BUILD_TYPE=Release -DENABLE_OPT=OFF -DGLSLANG_TESTS=OFF \
  -DENABLE_HLSL=OFF -DBUILD_EXTERNAL=OFF > build-glslang/configure.log
cmake --build build-glslang/out --target glslang-standalone > build-glslang/build.log
echo "$PWD/build-glslang/out/StandAlone/glslangValidator"
