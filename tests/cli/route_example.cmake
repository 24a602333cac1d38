execute_process(COMMAND ${CLI} route ${EXAMPLES}/configs/router.json ${EXAMPLES}/episodes/research-agent.jsonl
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "route exited ${rc}:\n${out}\n${err}")
endif()
# One line per step, with the decisions the example config implies for the example episode.
foreach(expected
    "0     plan           w4a16      0.20   -     rules: scorer 0 no rule matched"
    "1     read           fp8        0.30"
    "3     search         bf16       -      F     forced: /policy/force/0 matched (step_kind search)"
    "4     act            bf16       0.85"
    "5     act            fp8        0.30"
    "7     read           bf16       0.30   E"
    "last tool call invalid"
    "8     final          bf16       0.80"
    "summary: 9 decisions, w4a16 2 (22%), fp8 3 (33%), bf16 4 (44%)"
    "high precision (bf16): 44% of all steps"
    "38% of 8 scored steps (1 forced) against a budget of 30%")
  string(FIND "${out}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "missing: ${expected}\n--- output:\n${out}")
  endif()
endforeach()
