# Bad input to the learning commands: exit 2, one message naming the file (and offset), never a crash;
# a torn record is skipped with a warning and the whole records still train.
include(${CMAKE_CURRENT_LIST_DIR}/learning_common.cmake)
file(REMOVE_RECURSE ${WORK})

# A writer killed mid-record: the torn record is skipped, named by file and offset; training goes on.
generate(${WORK}/torn --sessions 20 --steps 30 --seed 4 --torn)
set(torn_file ${GENERATED})
run_cli(0 train ${WORK}/torn -o ${WORK}/model.bin --max-epochs 5)
expect_in("${LAST_STDERR}" "warning: ${torn_file}: offset " "the torn record's warning names file and offset")
string(JSON records GET "${LAST_JSON}" records)
if(NOT records EQUAL 599)
  message(FATAL_ERROR "expected the 599 whole records of 600 to read, got ${records}")
endif()

# A byte flipped mid-file: that record is skipped with a warning naming file and offset; the rest read.
generate(${WORK}/corrupt --sessions 20 --steps 30 --seed 5 --corrupt)
run_cli(0 eval ${WORK}/model.bin ${WORK}/corrupt --budget 0.3)
expect_in("${LAST_STDERR}" "warning: ${GENERATED}: offset " "the damaged record's warning names file and offset")
string(JSON steps GET "${LAST_JSON}" steps)
expect_greater(${steps} 500 1.0 "the records around the damaged one still read")

# A truncated model file.
file(READ ${WORK}/model.bin model_hex HEX)
string(LENGTH "${model_hex}" hex_length)
math(EXPR half "${hex_length} / 4 * 2")
string(SUBSTRING "${model_hex}" 0 ${half} cut_hex)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" cut_escaped "${cut_hex}")
execute_process(COMMAND printf "${cut_escaped}" OUTPUT_FILE ${WORK}/truncated.bin)
run_cli(2 eval ${WORK}/truncated.bin ${WORK}/torn --budget 0.3)
expect_in("${LAST_STDERR}" "${WORK}/truncated.bin: offset " "a truncated model names file and offset")

# A model of another format version.
execute_process(COMMAND ${GENERATOR} ${WORK}/unused --foreign-model ${WORK}/foreign.bin)
run_cli(2 eval ${WORK}/foreign.bin ${WORK}/torn --budget 0.3)
expect_in("${LAST_STDERR}" "${WORK}/foreign.bin: format_version 2" "a foreign model version")

# A trace file of another format version.
file(MAKE_DIRECTORY ${WORK}/foreign-trace)
execute_process(COMMAND ${GENERATOR} ${WORK}/unused --foreign-trace ${WORK}/foreign-trace/a.qctrace)
run_cli(2 train ${WORK}/foreign-trace -o ${WORK}/never.bin)
expect_in("${LAST_STDERR}" "${WORK}/foreign-trace/a.qctrace: offset 7: trace format version" "a foreign trace version")
if(EXISTS ${WORK}/never.bin)
  message(FATAL_ERROR "a failed train wrote a model")
endif()

# Missing input, no labelled records, K outside (0, 1), an unknown option.
run_cli(2 train ${WORK}/missing -o ${WORK}/never.bin)
expect_in("${LAST_STDERR}" "${WORK}/missing" "a missing trace path is named")
generate(${WORK}/unlabelled --sessions 5 --steps 10 --unlabelled)
run_cli(2 train ${WORK}/unlabelled -o ${WORK}/never.bin)
expect_in("${LAST_STDERR}" "no records with a kl_divergence" "traces without labels")
run_cli(2 eval ${WORK}/model.bin ${WORK}/torn --budget 1.5)
expect_in("${LAST_STDERR}" "--budget 1.5" "K outside (0, 1)")
run_cli(2 eval ${WORK}/model.bin ${WORK}/torn --budget 0)
run_cli(2 eval ${WORK}/model.bin ${WORK}/torn --budget 0.3 --exclude-step-kind search,,chat)
expect_in("${LAST_STDERR}" "--exclude-step-kind search,,chat: an empty step kind" "an empty step kind to leave out")
run_cli(2 calibrate ${WORK}/model.bin ${WORK}/torn --budget 0.3 --frobnicate)
run_cli(2 report ${WORK}/unlabelled -o ${WORK}/report)
