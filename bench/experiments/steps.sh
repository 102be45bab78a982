# Sourced by the device-call scripts as `source bench/experiments/steps.sh NAME`: their outputs
# go to $OUT/NAME ($d), the 1.3b model they time is $M, validation is off, and the tests find
# their data. Then step NAME COMMAND... runs the command with its output in
# $d/NAME.txt and its status and seconds appended to $d/log.txt, cut off at $deadline seconds
# into the script (DEADLINE, default 570; skipped with under 10 s left), so that the call ends
# in time to pack $d.
export RETNET_VALIDATION=0 RETNET_TEST_DATA_DIR=$PWD/tests/data
d=$OUT/$1
mkdir -p $d
deadline=${DEADLINE:-570}
M=/tmp/retnet-1.3b
step() {
  local name=$1; shift
  local left=$((deadline - SECONDS)) t0=$SECONDS
  if [ $left -lt 10 ]; then echo "$name: skipped, no time left" >> $d/log.txt; return; fi
  timeout $left "$@" > $d/$name.txt 2>&1
  echo "$name: rc $? in $((SECONDS - t0)) s: $*" >> $d/log.txt
}

# prefill_ab A B: the 1.3b model's ($M) prefill at 512-32k tokens (and decode at 1k) of
# build-A then build-B, two rounds alternating, as prefill-A-1.json etc.
prefill_ab() {
  local pre=(--contexts 1024 --prefill 512,2048,8192,32768 --batches 1 --train-config '' --decode-steps 16)
  for round in 1 2; do
    for b in "$@"; do
      step prefill-$b-$round build-$b/tools/retnet-bench -m $M "${pre[@]}" --json $d/prefill-$b-$round.json
    done
  done
}

# The small config's training step as the bench times it; train_ab ROUNDS A B ...: that step of
# build-A, build-B, ..., ROUNDS rounds alternating, as train-A-1.json etc.
train=(--train-only --train-config small --train-batch 4 --train-seq 2048)
train_ab() {
  local rounds=$1; shift
  for round in $(seq "$rounds"); do
    for b in "$@"; do
      step train-$b-$round build-$b/tools/retnet-bench "${train[@]}" --json $d/train-$b-$round.json
    done
  done
}

# The 1.3b model's 8k prefill (and a short decode) as the bench profiles it, with RETNET_PROFILE=1.
prefill_profile=(-m $M --contexts 1024 --prefill 8192 --batches 1 --train-config '' --decode-steps 4)

# The 1.3b model's decode at 1k context as the decode experiments time it.
decode_1k=(-m $M --contexts 1024 --prefill 512 --batches 1 --train-config '' --decode-steps 64)

# The device's name and driver, then the 1.3b model written once as $M by build-$1.
device_and_model() {
  nvidia-smi --query-gpu=name,driver_version --format=csv > $d/device.txt 2>&1
  step save build-$1/tools/retnet-bench --config 1.3b --save-model $M
}

# whole_suite B: build-B's whole test suite on the device, but [sentencepiece] (the device lacks
# its trainer library), with the fast paths (B-tests) and with all of them forced off (B-tests-off).
whole_suite() {
  step $1-tests build-$1/tests/retnet_tests --reporter compact "~[sentencepiece]"
  step $1-tests-off env RETNET_NO_FP16=1 RETNET_NO_SUBGROUPS=1 RETNET_NO_COOPMAT=1 build-$1/tests/retnet_tests --reporter compact "~[sentencepiece]"
}
