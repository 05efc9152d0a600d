#pragma once

// Configuration of the surge binary: defaults, then a TOML file, then
// SURGE_<SECTION>_<KEY> environment variables, validated once at start.
//
// Only app/ reads configuration (STYLE.md practice 3): the result is a set of
// plain settings structs handed to the components that need them.
//
// File layout (every key optional; unknown keys are an error):
//
//   [server]
//   address = "127.0.0.1"
//   port = 8080                  # 0..65535, 0 = any free port
//   threads = 0                  # 0 = one per core (resolved by load_config)
//   max_connections = 10000
//   max_header_bytes = 16384     # or "16KiB"
//   max_body_bytes = "1MiB"      # or 1048576
//   header_timeout_ms = 10000    # or "10s" / "10000ms"
//   idle_timeout_ms = 60000
//   shutdown_timeout_ms = 10000
//   access_log = true
//
//   [log]
//   level = "info"               # trace, debug, info, warn, error, off
//
// Environment: the key upper-cased with '.' -> '_' and a SURGE_ prefix:
// SURGE_SERVER_PORT=9000, SURGE_LOG_LEVEL=debug, SURGE_SERVER_ACCESS_LOG=no.
// A variable that is set (even to "") overrides the file.
//
// Thread safety: load_config and describe are pure functions of their
// arguments (plus getenv / the file system); call them from any thread.

#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "http/settings.hpp"

namespace surge::app {

struct LogSettings {
  // One of trace, debug, info, warn, error, off (log::init accepts the same).
  std::string level = "info";
};

struct Config {
  http::ServerSettings server;
  LogSettings log;
};

// A setting is missing its file, malformed or out of range. what() names the
// setting and where the bad value came from, e.g.
//   server.port: expected an integer 0..65535, got "abc" (from SURGE_SERVER_PORT)
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Looks up one environment variable; nullopt when it is not set.
using GetenvFn = std::function<std::optional<std::string>(std::string_view)>;

// The process environment (std::getenv).
std::optional<std::string> real_getenv(std::string_view name);

// Builds the effective configuration: defaults, overridden by `file` (when
// given), overridden by the environment. The result is concrete: threads is
// never 0 (0 resolves to the number of cores, at least 1).
//
// Throws ConfigError on an unreadable or malformed file (file:line), an
// unknown key in the file, or a value of the wrong type or out of range.
Config load_config(const std::optional<std::filesystem::path>& file,
                   const GetenvFn& getenv_fn = real_getenv);

// The effective configuration as TOML lines (one [section] per group, one
// `key = value` per setting), loadable again as a config file. Secrets print
// as "***".
std::string describe(const Config& config);

// "server.port" -> "SURGE_SERVER_PORT".
std::string env_var_name(std::string_view key);

}  // namespace surge::app
