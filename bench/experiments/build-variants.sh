#!/usr/bin/env bash
# Builds the folders a device call carries: for each NAME[:PATCH[:VAR=VALUE]] argument,
# build-NAME with tools/retnet-bench and tests/retnet_tests of a Release build of HEAD with PATCH
# (a file in bench/experiments) applied, or of HEAD itself without one, with the CMake cache
# variable VAR set to VALUE for that build only. Uses the checkout's build/ folder
# incrementally (scripts/setup.sh makes it), applying and reverting each patch in turn, so it
# needs a clean tree; build/ is left built at HEAD.
# Usage: bench/experiments/build-variants.sh exp scale:decode-rms-scale.patch ...
#        bench/experiments/build-variants.sh cm2:matmul-coopmat2.patch:RETNET_GLSLANG_COOPMAT2=$(bench/experiments/build-glslang.sh SRC)
set -eu
cd "$(git rev-parse --show-toplevel)"
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "build-variants.sh: the tree has uncommitted changes; commit or stash them first" >&2
  exit 1
fi
# Whatever fails, the applied patch is taken back out.
patch=""
var=""
trap '[ -z "$patch" ] || git apply -R "$patch"; [ -z "$var" ] || cmake -D${var%%=*}= build > /dev/null 2>&1' EXIT
for arg in "$@"; do
  IFS=: read -r name patch var <<< "$arg"
  patch=${patch:+bench/experiments/$patch}
  [ -z "$patch" ] || git apply "$patch"
  [ -z "$var" ] || cmake -D"$var" build > /dev/null
  cmake --build build --target retnet-bench retnet_tests > /tmp/build-variant-$name.log 2>&1 ||
    { echo "build-variants.sh: build-$name failed, see /tmp/build-variant-$name.log" >&2; exit 1; }
  mkdir -p build-$name/tools build-$name/tests
  cp build/tools/retnet-bench build-$name/tools/
  cp build/tests/retnet_tests build-$name/tests/
  echo "build-$name: HEAD${patch:+ with $patch}${var:+ and $var}"
  [ -z "$patch" ] || git apply -R "$patch"
  [ -z "$var" ] || cmake -D${var%%=*}= build > /dev/null 2>&1
  patch=""
  var=""
done
cmake --build build --target retnet-bench retnet_tests > /dev/null
