#!/usr/bin/env bash
# The seventeenth session's second device call (right after seventeenth-a.sh, on the same
# machine): the PyTorch peers (compare.sh's second half, fla's source in .flaref/fla at
# bc3b101), each part in a process of its own, training first; then the whole test suite with
# the fast paths on, as time allows. Carry .device, .flaref and build-head.
# Usage: source .device/prelude.sh && bash bench/experiments/seventeenth-b.sh
set -u
export RETNET_VALIDATION=0 RETNET_TEST_DATA_DIR=$PWD/tests/data PYTHONPATH=$PWD/.flaref
d=$OUT/seventeenth-b
mkdir -p $d
step() {  # name, seconds, command...: its output in $d/name.txt, its status and time in log.txt
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout $limit "$@" > $d/$name.txt 2>&1
  echo "$name: rc $? in $((SECONDS - t0)) s: $*" >> $d/log.txt
}
step peers-training 200 python3 tools/bench/peers.py --out $d/peers.json --parts training
step peers-inference 300 python3 tools/bench/peers.py --out $d/peers.json --parts inference
left=$((560 - SECONDS))
[ $left -gt 30 ] && step tests $left build-head/tests/retnet_tests --reporter compact '~[sentencepiece]'
tar -czf $OUT/seventeenth-b.tar.gz -C $OUT seventeenth-b && rm -rf $d
