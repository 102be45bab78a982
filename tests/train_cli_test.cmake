# `retnet train` twice: 4 of 6 steps (--stop-after), then --resume to the end. Fails unless
# both runs succeed and print what a user needs to see.
file(REMOVE_RECURSE ${OUT})
set(args train --data ${DATA} --out ${OUT} --config "{\"hidden_size\":32,\"num_hidden_layers\":1,\"num_heads\":2}"
    --steps 6 --seq-len 32 --batch 2 --eval-every 2 --eval-batches 2 --checkpoint-every 2)
execute_process(COMMAND ${RETNET} ${args} --stop-after 4 OUTPUT_VARIABLE first ERROR_VARIABLE first_err RESULT_VARIABLE rc1)
execute_process(COMMAND ${RETNET} ${args} --resume OUTPUT_VARIABLE second ERROR_VARIABLE second_err RESULT_VARIABLE rc2)
message("${first}${first_err}${second}${second_err}")
if(NOT rc1 EQUAL 0 OR NOT rc2 EQUAL 0)
  message(FATAL_ERROR "retnet train failed: ${rc1} ${rc2}")
endif()
foreach(expected "step 4/6 loss [0-9.]+ \\| [0-9]+ tok/s .*validation [0-9.]+ .*checkpoint" "done: step 4")
  if(NOT first MATCHES "${expected}")
    message(FATAL_ERROR "first run lacks '${expected}'")
  endif()
endforeach()
if(NOT second MATCHES "step 6/6 loss" OR NOT second MATCHES "done: step 6")
  message(FATAL_ERROR "the resumed run did not reach step 6")
endif()
foreach(f checkpoint/COMPLETE checkpoint/model.safetensors model/model.safetensors loss.csv loss.svg)
  if(NOT EXISTS ${OUT}/${f})
    message(FATAL_ERROR "missing ${OUT}/${f}")
  endif()
endforeach()
file(REMOVE_RECURSE ${OUT})

# Ctrl-C during a long run: the step in progress finishes, a checkpoint is written, and the
# program says how to continue.
execute_process(COMMAND timeout -s INT 8 ${RETNET} train --data ${DATA} --out ${OUT}
    --config "{\"hidden_size\":32,\"num_hidden_layers\":1,\"num_heads\":2}" --steps 100000000 --seq-len 32 --batch 2
    --checkpoint-every 100000000
  OUTPUT_VARIABLE interrupted ERROR_VARIABLE interrupted_err RESULT_VARIABLE rc3)
message("${interrupted}${interrupted_err}")
if(NOT interrupted MATCHES "interrupted: checkpoint written" OR NOT EXISTS ${OUT}/checkpoint/COMPLETE)
  message(FATAL_ERROR "an interrupted run did not leave a checkpoint (exit ${rc3})")
endif()
file(REMOVE_RECURSE ${OUT})
