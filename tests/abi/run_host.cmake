# Runs an example host on the example config and episode and checks what a user would: exit 0, nothing
# on stderr, and one decision line per step, in order, with the decisions the example config implies.
#   cmake -DHOST=... -DLIBRARY=path|- [-DPLUGIN_ENV=path] -DCONFIG=... -DEPISODE=... -P run_host.cmake
# With -DEXPECT_LOAD_FAILURE=ON it checks the opposite: a library that cannot load is a clear message
# and exit status 2, not a crash.
foreach(variable HOST LIBRARY CONFIG EPISODE)
  if(NOT DEFINED ${variable})
    message(FATAL_ERROR "run_host.cmake: -D${variable}=... is required")
  endif()
endforeach()

# The plugin variable is always set or unset explicitly, so the test never inherits it from the shell.
if(DEFINED PLUGIN_ENV)
  set(environment "QUANTCLAW_PLUGIN=${PLUGIN_ENV}")
else()
  set(environment --unset=QUANTCLAW_PLUGIN)
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" -E env ${environment} "${HOST}" "${LIBRARY}" "${CONFIG}" "${EPISODE}"
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
set(transcript "--- exit status: ${rc}\n--- stdout:\n${out}--- stderr:\n${err}")

if(EXPECT_LOAD_FAILURE)
  if(NOT rc EQUAL 2 OR NOT err MATCHES "cannot (load|use plugin) ")
    message(FATAL_ERROR "expected exit status 2 and a load error\n${transcript}")
  endif()
  if(out MATCHES "step [0-9]")
    message(FATAL_ERROR "printed decisions without a library\n${transcript}")
  endif()
  message(STATUS "OK: load failure reported")
  return()
endif()

if(NOT rc EQUAL 0)
  message(FATAL_ERROR "host failed\n${transcript}")
endif()
if(NOT err STREQUAL "")
  message(FATAL_ERROR "host wrote to stderr on a clean episode\n${transcript}")
endif()

# Reasons may hold ';', which CMake lists would split on: only the line structure matters here.
string(REPLACE ";" "," lines "${out}")
string(REPLACE "\n" ";" lines "${lines}")
set(decision_lines "")
foreach(line IN LISTS lines)
  if(line MATCHES "^step ")
    list(APPEND decision_lines "${line}")
  endif()
endforeach()
list(LENGTH decision_lines count)
if(NOT count EQUAL 9)
  message(FATAL_ERROR "expected 9 decision lines, got ${count}\n${transcript}")
endif()
set(index 0)
foreach(line IN LISTS decision_lines)
  # step INDEX KIND TIER SCORE REASON
  if(NOT line MATCHES "^step ([0-9]+) +([a-z_]+) +(bf16|fp8|w4a16) +(-|[01]\\.[0-9][0-9]) +([^ ].*)$")
    message(FATAL_ERROR "malformed decision line: ${line}\n${transcript}")
  endif()
  if(NOT CMAKE_MATCH_1 EQUAL index)
    message(FATAL_ERROR "decision ${index} reports step ${CMAKE_MATCH_1}\n${transcript}")
  endif()
  math(EXPR index "${index} + 1")
endforeach()

# Decisions the example config pins down regardless of the budget: the force rule on search steps, and
# the hints' step kinds carried through.
foreach(expected
    "step 0   plan         w4a16"
    "step 3   search       bf16       -     forced: /policy/force/0 matched (step_kind search)"
    "step 7   read         bf16"
    "step 8   final        ")
  string(FIND "${out}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "missing: \"${expected}\"\n${transcript}")
  endif()
endforeach()
# The outcome line before step 7 reports an invalid tool call: the host must have passed it on.
if(NOT out MATCHES "\nstep 7 [^\n]*escalated: last tool call invalid\n")
  message(FATAL_ERROR "step 7 was not escalated: the outcome did not reach the library\n${transcript}")
endif()
message(STATUS "OK: 9 decisions")
