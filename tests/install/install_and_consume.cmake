# Installs the build into a fresh prefix, then builds two consumers against it: one with
# find_package(QuantClaw), one with pkg-config, and runs both. ABI_MAJOR / ABI_MINOR are the version the
# build read from quantclaw.h; the file names, the package, quantclaw.pc and the library must all say it.
set(prefix ${WORK}/prefix)
set(version ${ABI_MAJOR}.${ABI_MINOR}.0)
file(REMOVE_RECURSE ${WORK})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD} --prefix ${prefix} RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed: ${rc}")
endif()
foreach(expected include/quantclaw/quantclaw.h
        lib/libquantclaw.so lib/libquantclaw.so.${ABI_MAJOR} lib/libquantclaw.so.${version}
        lib/cmake/QuantClaw/QuantClawConfig.cmake lib/cmake/QuantClaw/QuantClawConfigVersion.cmake
        lib/pkgconfig/quantclaw.pc bin/quantclaw share/quantclaw/proto/quantclaw/v1/step.proto)
  if(NOT EXISTS ${prefix}/${expected})
    message(FATAL_ERROR "not installed: ${expected}")
  endif()
endforeach()

# find_package
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE}/consumer -B ${WORK}/cmake-consumer -DCMAKE_PREFIX_PATH=${prefix}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the find_package consumer failed:\n${out}\n${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK}/cmake-consumer RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the find_package consumer failed:\n${out}\n${err}")
endif()
execute_process(COMMAND ${WORK}/cmake-consumer/consumer RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "consumer OK: ABI ${ABI_MAJOR}\\.${ABI_MINOR}\n")
  message(FATAL_ERROR "the find_package consumer failed (${rc}):\n${out}\n${err}")
endif()

# The package's version file says the ABI version.
include(${prefix}/lib/cmake/QuantClaw/QuantClawConfigVersion.cmake)
if(NOT PACKAGE_VERSION STREQUAL version)
  message(FATAL_ERROR "QuantClawConfigVersion.cmake says ${PACKAGE_VERSION}, the header ${version}")
endif()

# pkg-config
execute_process(COMMAND env PKG_CONFIG_PATH=${prefix}/lib/pkgconfig pkg-config --modversion quantclaw
                RESULT_VARIABLE rc OUTPUT_VARIABLE pc_version OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0 OR NOT pc_version STREQUAL version)
  message(FATAL_ERROR "quantclaw.pc says version \"${pc_version}\", the header ${version}")
endif()
execute_process(COMMAND env PKG_CONFIG_PATH=${prefix}/lib/pkgconfig pkg-config --cflags --libs quantclaw
                RESULT_VARIABLE rc OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config does not know quantclaw")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
execute_process(COMMAND ${C_COMPILER} ${SOURCE}/consumer/main.c ${flags} -Wl,-rpath,${prefix}/lib -o ${WORK}/pc-consumer
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the pkg-config consumer failed:\n${err}")
endif()
execute_process(COMMAND ${WORK}/pc-consumer RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "consumer OK")
  message(FATAL_ERROR "the pkg-config consumer failed (${rc}):\n${out}")
endif()
