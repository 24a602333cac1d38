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

if(QUANTCLAW_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(QUANTCLAW_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
