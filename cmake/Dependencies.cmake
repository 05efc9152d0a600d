# Every dependency is a Debian 12 package installed by scripts/bootstrap.
find_package(Threads REQUIRED)
# Boost 1.81 (libboost1.81-all-dev), not Debian's default 1.74.
find_package(Boost 1.81 EXACT REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
find_package(OpenSSL REQUIRED)

if(SURGE_TESTS)
  find_package(GTest REQUIRED)
endif()
if(SURGE_BENCHMARKS)
  find_package(benchmark REQUIRED)
  # Only the comparison benchmarks link the libraries we measured against.
  find_package(nlohmann_json QUIET)
  find_package(simdjson QUIET)
  find_library(HTTP_PARSER_LIB http_parser)
  add_library(surge_bench_deps INTERFACE)
  add_library(surge::bench_deps ALIAS surge_bench_deps)
  if(nlohmann_json_FOUND)
    target_link_libraries(surge_bench_deps INTERFACE nlohmann_json::nlohmann_json)
    target_compile_definitions(surge_bench_deps INTERFACE SURGE_HAVE_NLOHMANN=1)
  endif()
  if(simdjson_FOUND)
    target_link_libraries(surge_bench_deps INTERFACE simdjson::simdjson)
    target_compile_definitions(surge_bench_deps INTERFACE SURGE_HAVE_SIMDJSON=1)
  endif()
  if(HTTP_PARSER_LIB)
    target_link_libraries(surge_bench_deps INTERFACE ${HTTP_PARSER_LIB})
    target_compile_definitions(surge_bench_deps INTERFACE SURGE_HAVE_HTTP_PARSER=1)
  endif()
endif()

add_library(surge_deps INTERFACE)
add_library(surge::deps ALIAS surge_deps)
target_link_libraries(surge_deps INTERFACE
  Boost::headers fmt::fmt spdlog::spdlog CLI11::CLI11 PkgConfig::TOMLPP PkgConfig::XXHASH PkgConfig::HIREDIS PkgConfig::LIBPQ PkgConfig::SODIUM
  OpenSSL::Crypto Threads::Threads)
target_compile_definitions(surge_deps INTERFACE
  BOOST_ASIO_NO_DEPRECATED
  BOOST_ASIO_DISABLE_BOOST_COROUTINE
  SPDLOG_FMT_EXTERNAL
  TOML_HEADER_ONLY=0)
