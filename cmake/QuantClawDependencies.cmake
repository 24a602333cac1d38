# Every dependency comes from Debian bookworm's -dev packages (cmake/setup.sh installs them).
find_package(Threads REQUIRED)
find_package(Protobuf 3.21 REQUIRED)
find_package(CURL 7.88 REQUIRED)
find_package(absl CONFIG REQUIRED)
# Boost 1.81: Boost.JSON is compiled into the library from its header-only source (boost/json/src.hpp),
# so the copy inside stays private; Boost.DLL is header-only and used by the C++ example host.
find_package(Boost 1.81 REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)

# PCRE2 goes in as the static archive so that, with --exclude-libs, a host's own PCRE2 never meets ours.
find_library(PCRE2_STATIC_LIBRARY NAMES libpcre2-8.a)
if(PCRE2_STATIC_LIBRARY)
  add_library(quantclaw_pcre2 INTERFACE)
  target_include_directories(quantclaw_pcre2 INTERFACE ${PCRE2_INCLUDE_DIRS})
  target_link_libraries(quantclaw_pcre2 INTERFACE ${PCRE2_STATIC_LIBRARY})
else()
  add_library(quantclaw_pcre2 INTERFACE)
  target_link_libraries(quantclaw_pcre2 INTERFACE PkgConfig::PCRE2)
endif()

# protobuf inside libquantclaw.so: a private copy, so that each copy of the library loaded into one host
# (side by side from two paths) has its own DescriptorPool. Linked against the shared libprotobuf.so, every
# copy registers the same quantclaw/v1/*.proto in that library's one global pool, and the second
# registration aborts the host. Debian's libprotobuf.a is PIE with local-exec TLS, unusable in a shared
# object, so cmake/protobuf-pic.sh builds a position-independent one from Debian's source of the installed
# version (headers checked byte for byte). The generated code is compiled against the installed headers,
# the same as that source's. The static twin (unit tests) and the example hosts keep the shared library.
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  set(quantclaw_private_protobuf_default ON)
else()
  set(quantclaw_private_protobuf_default OFF)
endif()
option(QUANTCLAW_PRIVATE_PROTOBUF
       "Link libquantclaw.so against a private position-independent libprotobuf.a (cmake/protobuf-pic.sh build)"
       ${quantclaw_private_protobuf_default})
set(QUANTCLAW_PROTOBUF_ARCHIVE "" CACHE FILEPATH
    "The position-independent libprotobuf.a of the installed protobuf version; empty: where cmake/protobuf-pic.sh builds it")
set(QUANTCLAW_USES_PRIVATE_PROTOBUF OFF)
if(QUANTCLAW_PRIVATE_PROTOBUF)
  set(quantclaw_protobuf_archive "${QUANTCLAW_PROTOBUF_ARCHIVE}")
  if(quantclaw_protobuf_archive STREQUAL "")
    execute_process(COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/protobuf-pic.sh archive
                    OUTPUT_VARIABLE quantclaw_protobuf_archive OUTPUT_STRIP_TRAILING_WHITESPACE
                    ERROR_VARIABLE quantclaw_protobuf_error RESULT_VARIABLE quantclaw_protobuf_result)
    if(NOT quantclaw_protobuf_result EQUAL 0)
      string(STRIP "${quantclaw_protobuf_error}" quantclaw_protobuf_archive)
    endif()
  endif()
  if(NOT quantclaw_protobuf_archive STREQUAL "" AND EXISTS "${quantclaw_protobuf_archive}")
    set(QUANTCLAW_USES_PRIVATE_PROTOBUF ON)
    add_library(quantclaw_private_protobuf STATIC IMPORTED)
    set_target_properties(quantclaw_private_protobuf PROPERTIES
      IMPORTED_LOCATION "${quantclaw_protobuf_archive}"
      INTERFACE_INCLUDE_DIRECTORIES "${Protobuf_INCLUDE_DIRS}"
      INTERFACE_LINK_LIBRARIES Threads::Threads)
    message(STATUS "libquantclaw.so: private protobuf ${quantclaw_protobuf_archive}")
  else()
    message(WARNING "libquantclaw.so links the shared libprotobuf: no private archive "
            "(${quantclaw_protobuf_archive}). Two copies of the library loaded "
            "side by side from different paths will abort their host. Build the archive with "
            "`cmake/protobuf-pic.sh build` (cmake/quantclaw-dev.sh setup does) and configure again, or "
            "-DQUANTCLAW_PRIVATE_PROTOBUF=OFF to silence this.")
  endif()
endif()

if(QUANTCLAW_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(QUANTCLAW_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
