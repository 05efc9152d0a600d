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
//   modules = ["user", "catalog", "orders", "campaigns"]   # the API modules served
//
//   [log]
//   level = "info"               # trace, debug, info, warn, error, off
//
//   [database]                   # PostgreSQL (pg::Settings)
//   primary = ""                 # libpq URI or key=value; "" = no database
//   replicas = []                # ["postgresql://surge@replica-1/surge", ...]
//   connections_per_thread = 2   # 1..256, per node per I/O thread
//   connect_timeout_ms = 3000
//   query_timeout_ms = 5000
//   max_replica_lag_ms = 2000    # a replica further behind leaves rotation
//   health_interval_ms = 250
//   read_your_writes_window_ms = 5000  # 0 = reads after a write may hit a replica
//
//   [redis]                      # redis::Settings
//   shards = []                  # ["127.0.0.1:7001", "[::1]:7002"]; order = placement
//   connections_per_thread = 1   # 1..256
//   connect_timeout_ms = 1000
//   command_timeout_ms = 1000
//   breaker_failures = 5         # consecutive failures that open a shard's breaker
//   breaker_open_for_ms = 2000
//   health_interval_ms = 500
//
//   [cache]                      # cache::TwoLevelOptions (jitter stays at its default)
//   l1_enabled = true
//   l2_enabled = true
//   l1_max_entries = 100000
//   l1_max_bytes = "64MiB"       # or 67108864
//   l1_ttl_ms = 1000
//   l1_negative_ttl_ms = 250
//   l1_shards = 0                # 0 = max(16, 2 x hardware threads)
//   l2_ttl_s = 60                # seconds, or "60s" / "5m" / "1h" / "1d"
//   l2_negative_ttl_s = 5
//
//   [auth]
//   token_secret = ""            # secret; "" = not configured
//   admin_token = ""             # secret; "" = admin routes refused
//   token_ttl_s = 86400
//
//   [users]                      # users::PasswordSettings, users::LoginLimitSettings
//   hash_threads = 2             # argon2id pool, off the I/O threads
//   hash_max_pending = 32        # queued + running hashes; beyond it 503
//   hash_opslimit = 2            # argon2id passes (libsodium INTERACTIVE)
//   hash_memlimit = "64MiB"
//   login_limit_enabled = true
//   login_limit_per_name = 10    # failed logins per name per window
//   login_limit_per_address = 50 # failed logins per client address per window
//   login_limit_window_s = 60
//
//   [profile]
//   l2_ttl_s = 30                # bounds an entry outliving a failed L2 delete
//   marker_ttl_s = 60            # read-your-writes marker of a user's write
//
//   [signin]                     # signin::Settings
//   time_zone = "UTC"            # IANA name of the sign-in day
//   base_points = 10
//   streak_bonus_points = 2      # extra points per day of streak ...
//   streak_bonus_max_days = 5    # ... counted up to this many days
//   day_end_margin_s = 2         # cached status expires this long before midnight
//
//   [publish]                    # `surge publish` (catalog/publish.hpp)
//   dir = "var/static"           # the folder the load balancer serves as /static/
//   retention_s = 600            # superseded versioned files are kept this long
//   on_admin_write = true        # `surge serve` republishes after admin writes
//   [campaigns]                  # red packets and flash sales on the Redis shards
//   hot_retention_s = "7d"       # a campaign's keys expire this long after its end; 0 = never
//
//   [worker]                     # `surge worker`: its /healthz + /metrics port, worker::Settings
//   address = "127.0.0.1"
//   port = 8081                  # 0 = any free port
//   threads = 2                  # I/O threads carrying the consumers
//   consumers = 2                # per stream (rp:stream, fs:stream) per shard
//   batch_size = 200             # entries per read and per transaction
//   claim_idle_ms = 5000         # pending longer than this: XAUTOCLAIMed by another consumer
//   max_deliveries = 5           # beyond it an entry goes to <stream>:dead
//   poll_interval_ms = 20        # sleep after an empty read
//   publish_interval_s = 30      # republish the static catalog into publish.dir; 0 = off
//
// Environment: the key upper-cased with '.' -> '_' and a SURGE_ prefix:
// SURGE_SERVER_PORT=9000, SURGE_LOG_LEVEL=debug, SURGE_SERVER_ACCESS_LOG=no.
// A variable that is set (even to "") overrides the file. A list is
// comma-separated, spaces around items trimmed, "" = empty list:
// SURGE_REDIS_SHARDS=127.0.0.1:7001,127.0.0.1:7002 (an item cannot contain a
// comma there: a multi-host libpq URI as a replica needs the file).
//
// describe() masks secrets ("***") and the password of a URI or key=value
// connection string (postgresql://user:***@host, password=***).
//
// Thread safety: load_config and describe are pure functions of their
// arguments (plus getenv / the file system); call them from any thread.

#include <array>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "cache/two_level.hpp"
#include "http/settings.hpp"
#include "pg/cluster.hpp"
#include "redis/shards.hpp"
#include "signin/status.hpp"
#include "users/login_limiter.hpp"
#include "users/password.hpp"
#include "worker/consumer.hpp"

namespace surge::app {

struct LogSettings {
  // One of trace, debug, info, warn, error, off (log::init accepts the same).
  std::string level = "info";
};

// Credentials of the API. Empty = not configured: the server refuses the
// routes that need it (admin routes without admin_token).
struct AuthSettings {
  std::string token_secret;  // signs user tokens
  std::string admin_token;   // bearer token of the admin routes
  std::chrono::seconds token_ttl{86400};

  friend bool operator==(const AuthSettings&, const AuthSettings&) = default;
};

// Accounts: the password hashing pool and the login rate limit.
struct UsersSettings {
  users::PasswordSettings passwords;
  users::LoginLimitSettings login_limits;
};

// The user center's cache lifetimes (its L1 follows [cache]).
struct ProfileSettings {
  std::chrono::seconds l2_ttl{30};
  std::chrono::seconds marker_ttl{60};

  friend bool operator==(const ProfileSettings&, const ProfileSettings&) = default;
};

// `surge publish`: where the static catalog goes (catalog/publish.hpp).
struct PublishSettings {
  std::string dir = "var/static";
  std::chrono::seconds retention{600};
  // `surge serve` republishes after each admin write that changes the
  // files (catalog/change_publisher.hpp); off where app servers cannot
  // write `dir` (the worker's timer then publishes alone).
  bool on_admin_write = true;

  friend bool operator==(const PublishSettings&, const PublishSettings&) = default;
};

// Red packets and flash sales (redpackets/hot.hpp, flashsales/hot.hpp).
struct CampaignSettings {
  // A campaign's keys on its shard expire this long after it ended: the
  // shard holds the live campaigns, not every campaign ever run. After
  // that the database answers for it (ended, already grabbed, counts).
  // 0 = the keys never expire.
  std::chrono::seconds hot_retention{7 * 24 * 3600};

  friend bool operator==(const CampaignSettings&, const CampaignSettings&) = default;
};

// `surge worker`: where it answers /healthz, /readyz and /metrics, and its
// consumers (worker/consumer.hpp).
struct WorkerSettings {
  std::string address = "127.0.0.1";
  unsigned short port = 8081;
  unsigned threads = 2;
  worker::Settings queue;
  // `surge publish` on a timer (catalog/publish_timer.hpp); 0 = off.
  std::chrono::seconds publish_interval{30};
};

// The API modules of `surge serve` (server.modules), each a set of path
// prefixes the load balancer can route to a service of its own:
//   user       /api/v1/users, /api/v1/sessions, /api/v1/me, /api/v1/signin
//   catalog    /api/v1/products, /api/v1/catalog, /api/v1/admin/products
//   orders     /api/v1/orders
//   campaigns  /api/v1/redpackets, /api/v1/flashsales, /api/v1/flashsale-orders,
//              /api/v1/me/redpackets, /api/v1/admin/{redpackets,flashsales}
// Every server keeps /healthz, /readyz, /metrics and the admin cache route.
inline constexpr std::array<std::string_view, 4> kModules = {"user", "catalog", "orders",
                                                             "campaigns"};

struct Config {
  http::ServerSettings server;
  std::vector<std::string> modules{kModules.begin(), kModules.end()};
  LogSettings log;
  pg::Settings database;  // primary "" = no database configured
  redis::Settings redis;  // no shards = no Redis configured
  cache::TwoLevelOptions cache;
  AuthSettings auth;
  UsersSettings users;
  ProfileSettings profile;
  signin::Settings signin;
  PublishSettings publish;
  CampaignSettings campaigns;
  WorkerSettings worker;
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
