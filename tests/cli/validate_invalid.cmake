execute_process(COMMAND ${CLI} validate ${CONFIG} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "expected exit 1, got ${rc}:\n${out}")
endif()
foreach(expected
    "/tiers/1/name: duplicate tier name \"bf16\" (also /tiers/0/name)"
    "/tiers/1/format: unknown precision format \"fp9\""
    "/tiers/1/bse_url: unknown key \"bse_url\" (did you mean \"base_url\"?)"
    "/tiers/1/base_url: required string is missing"
    "/reference_tier: no tier named \"fp32\""
    "/policy/budget/high_fraction: out of range: 2 is not in [0, 1]"
    "/policy/scorer/quant/taskTypes/0/patterns/0:")
  string(FIND "${out}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "missing line: ${expected}\n--- output:\n${out}")
  endif()
endforeach()
