# retnet-bench on the tiny configuration, every part but training, with its JSON read back:
# fails unless each measurement is there with a positive figure and the prefill pieces
# (--max-prefill-tokens) are the ones asked for. Prompts of 300 tokens in pieces of 128 take
# the piecewise path (three steps carrying the state). RETNET_READ_SHAPES adds a read at one
# launch shape, whose figures must be there too; a malformed shape must stop the bench with an
# error naming it. The device's shared memory and the matrix extensions it offers unused are
# recorded, and with RETNET_PROFILE=1 the batched decode step's kernels.
set(json ${OUT}/bench.json)
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})
set(ENV{RETNET_READ_SHAPES} 4x64x4)
execute_process(COMMAND ${BENCH} --config tiny --contexts 64 --prefill 300 --batches 1,2 --train-config ""
    --decode-steps 2 --max-prefill-tokens 128 --json ${json}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "retnet-bench failed: ${rc}")
endif()
file(READ ${json} doc)
string(JSON pieces GET "${doc}" max_prefill_tokens)
string(JSON tokens GET "${doc}" prefill 0 tokens)
string(JSON context GET "${doc}" decode 0 context)
string(JSON batches LENGTH "${doc}" batched_decode)
if(NOT pieces EQUAL 128 OR NOT tokens EQUAL 300 OR NOT context EQUAL 64 OR NOT batches EQUAL 2)
  message(FATAL_ERROR "unexpected shape: pieces ${pieces}, prompt ${tokens}, context ${context}, batches ${batches}")
endif()
string(JSON shape GET "${doc}" read_bandwidth shapes 0 shape)
if(NOT shape STREQUAL "4x64x4")
  message(FATAL_ERROR "read_bandwidth.shapes[0] is '${shape}', not the 4x64x4 asked for")
endif()
foreach(path "prefill;0;tokens_per_s" "decode;0;ms_per_token" "batched_decode;1;tokens_per_s" "batched_decode;1;peak_bytes"
        "copy_bandwidth_gb_s"
        "read_bandwidth;shapes;0;streaming_gb_s" "read_bandwidth;shapes;0;window_100mb_gb_s" "shared_memory_bytes")
  string(JSON value GET "${doc}" ${path})
  if(NOT value GREATER 0)
    message(FATAL_ERROR "${path} is ${value}, not a positive figure")
  endif()
endforeach()
string(JSON type ERROR_VARIABLE missing TYPE "${doc}" unused_matrix_extensions)
if(NOT type STREQUAL "ARRAY")
  message(FATAL_ERROR "unused_matrix_extensions is not a list: ${type} ${missing}")
endif()
# With RETNET_PROFILE=1 the bench also profiles a prefill, a decode step and the largest
# batched decode step, kernel by kernel.
unset(ENV{RETNET_READ_SHAPES})
set(ENV{RETNET_PROFILE} 1)
execute_process(COMMAND ${BENCH} --config tiny --contexts 16 --prefill 16 --batches 1,3 --train-config ""
    --decode-steps 2 --json ${json} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
unset(ENV{RETNET_PROFILE})
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "retnet-bench with RETNET_PROFILE=1 failed: ${rc}\n${out}${err}")
endif()
file(READ ${json} doc)
string(JSON batch GET "${doc}" profile_batched_decode batch)
string(JSON dispatches GET "${doc}" profile_batched_decode dispatches)
string(JSON gpu_ms GET "${doc}" profile_batched_decode gpu_ms)
if(NOT batch EQUAL 3 OR NOT dispatches GREATER 0 OR NOT gpu_ms GREATER 0)
  message(FATAL_ERROR "profile_batched_decode: batch ${batch}, ${dispatches} dispatches, ${gpu_ms} ms")
endif()
set(ENV{RETNET_READ_SHAPES} 4x64)
execute_process(COMMAND ${BENCH} --config tiny --contexts 16 --prefill 16 --batches 1 --train-config ""
    --decode-steps 2 OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(rc EQUAL 0 OR NOT err MATCHES "RETNET_READ_SHAPES: '4x64' is not WORKGROUPSxTHREADSxWORDS")
  message(FATAL_ERROR "a malformed RETNET_READ_SHAPES gave rc ${rc} and: ${out}${err}")
endif()
file(REMOVE_RECURSE ${OUT})
