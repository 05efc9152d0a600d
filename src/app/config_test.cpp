#include "app/config.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace surge::app {
namespace {

using namespace std::chrono_literals;

// An environment made of exactly these variables, so tests never see the
// real one.
GetenvFn fake_env(std::map<std::string, std::string> vars = {}) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    const auto it = vars.find(std::string(name));
    if (it == vars.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

// A config file unique to the running test, removed with the fixture.
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::path(::testing::TempDir()) /
            (std::string("surge_config_") + info->name() + ".toml");
  }
  void TearDown() override { std::filesystem::remove(path_); }

  std::filesystem::path write_file(const std::string& text) {
    std::ofstream(path_, std::ios::binary) << text;
    return path_;
  }

  // The ConfigError message of loading `text` with `env`; fails the test when
  // loading succeeds.
  std::string error_of(const std::string& text, std::map<std::string, std::string> env = {}) {
    const auto file = write_file(text);
    try {
      load_config(file, fake_env(std::move(env)));
    } catch (const ConfigError& e) {
      return e.what();
    }
    ADD_FAILURE() << "load_config accepted:\n" << text;
    return {};
  }

  static std::string env_error_of(std::map<std::string, std::string> env) {
    try {
      load_config(std::nullopt, fake_env(std::move(env)));
    } catch (const ConfigError& e) {
      return e.what();
    }
    ADD_FAILURE() << "load_config accepted the environment";
    return {};
  }

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

unsigned cores() {
  return std::max(1U, std::thread::hardware_concurrency());
}

TEST_F(ConfigTest, DefaultsWithoutFileOrEnvironment) {
  const Config c = load_config(std::nullopt, fake_env());
  const http::ServerSettings d;
  EXPECT_EQ(c.server.address, d.address);
  EXPECT_EQ(c.server.port, d.port);
  EXPECT_EQ(c.server.threads, cores());
  EXPECT_EQ(c.server.max_connections, d.max_connections);
  EXPECT_EQ(c.server.max_header_bytes, d.max_header_bytes);
  EXPECT_EQ(c.server.max_body_bytes, d.max_body_bytes);
  EXPECT_EQ(c.server.header_timeout, d.header_timeout);
  EXPECT_EQ(c.server.idle_timeout, d.idle_timeout);
  EXPECT_EQ(c.server.shutdown_timeout, d.shutdown_timeout);
  EXPECT_EQ(c.server.access_log, d.access_log);
  EXPECT_EQ(c.log.level, "info");
}

TEST_F(ConfigTest, FileValues) {
  const auto file = write_file(R"(
[server]
address = "0.0.0.0"
port = 9000
threads = 3
max_connections = 500
max_header_bytes = "8KiB"
max_body_bytes = 2048
header_timeout_ms = "5s"
idle_timeout_ms = 30000
shutdown_timeout_ms = "250ms"
access_log = false

[log]
level = "debug"
)");
  const Config c = load_config(file, fake_env());
  EXPECT_EQ(c.server.address, "0.0.0.0");
  EXPECT_EQ(c.server.port, 9000);
  EXPECT_EQ(c.server.threads, 3U);
  EXPECT_EQ(c.server.max_connections, 500U);
  EXPECT_EQ(c.server.max_header_bytes, 8U * 1024);
  EXPECT_EQ(c.server.max_body_bytes, 2048U);
  EXPECT_EQ(c.server.header_timeout, 5s);
  EXPECT_EQ(c.server.idle_timeout, 30s);
  EXPECT_EQ(c.server.shutdown_timeout, 250ms);
  EXPECT_FALSE(c.server.access_log);
  EXPECT_EQ(c.log.level, "debug");
}

TEST_F(ConfigTest, PartialFileKeepsDefaults) {
  const auto file = write_file("server.port = 9001\n");  // dotted keys work too
  const Config c = load_config(file, fake_env());
  EXPECT_EQ(c.server.port, 9001);
  EXPECT_EQ(c.server.address, "127.0.0.1");
  EXPECT_EQ(c.log.level, "info");
}

TEST_F(ConfigTest, EnvironmentBeatsFile) {
  const auto file =
      write_file("[server]\nport = 9000\naddress = \"10.0.0.1\"\n[log]\nlevel = \"warn\"\n");
  const Config c = load_config(file, fake_env({{"SURGE_SERVER_PORT", "9100"},
                                               {"SURGE_LOG_LEVEL", "error"},
                                               {"SURGE_SERVER_IDLE_TIMEOUT_MS", "90s"},
                                               {"SURGE_SERVER_MAX_BODY_BYTES", "2MiB"}}));
  EXPECT_EQ(c.server.port, 9100);
  EXPECT_EQ(c.server.address, "10.0.0.1");  // untouched by the environment
  EXPECT_EQ(c.log.level, "error");
  EXPECT_EQ(c.server.idle_timeout, 90s);
  EXPECT_EQ(c.server.max_body_bytes, 2U * 1024 * 1024);
}

TEST_F(ConfigTest, EnvironmentNames) {
  EXPECT_EQ(env_var_name("server.port"), "SURGE_SERVER_PORT");
  EXPECT_EQ(env_var_name("server.access_log"), "SURGE_SERVER_ACCESS_LOG");
  EXPECT_EQ(env_var_name("log.level"), "SURGE_LOG_LEVEL");
}

TEST_F(ConfigTest, BadEnvironmentValueNamesSettingAndVariable) {
  EXPECT_EQ(env_error_of({{"SURGE_SERVER_PORT", "abc"}}),
            R"(server.port: expected an integer 0..65535, got "abc" (from SURGE_SERVER_PORT))");
  EXPECT_EQ(env_error_of({{"SURGE_SERVER_PORT", "65536"}}),
            R"(server.port: expected an integer 0..65535, got "65536" (from SURGE_SERVER_PORT))");
  EXPECT_EQ(env_error_of({{"SURGE_SERVER_PORT", "-1"}}),
            R"(server.port: expected an integer 0..65535, got "-1" (from SURGE_SERVER_PORT))");
  // Overflowing uint64 is still just "not an integer in range".
  EXPECT_NE(env_error_of({{"SURGE_SERVER_MAX_CONNECTIONS", "99999999999999999999999"}})
                .find("server.max_connections: expected an integer 1..10000000"),
            std::string::npos);
  EXPECT_NE(env_error_of({{"SURGE_SERVER_MAX_BODY_BYTES", "1.5MiB"}})
                .find("(from SURGE_SERVER_MAX_BODY_BYTES)"),
            std::string::npos);
  EXPECT_NE(env_error_of({{"SURGE_SERVER_HEADER_TIMEOUT_MS", "0"}})
                .find("server.header_timeout_ms: expected a duration 1..3600000 ms"),
            std::string::npos);
  EXPECT_NE(env_error_of({{"SURGE_SERVER_ADDRESS", ""}}).find("expected a non-empty string"),
            std::string::npos);
  EXPECT_NE(
      env_error_of({{"SURGE_LOG_LEVEL", "verbose"}})
          .find(
              R"(log.level: expected one of trace, debug, info, warn, error, off, got "verbose")"),
      std::string::npos);
  // Control characters in a hostile value are escaped in the message.
  EXPECT_NE(env_error_of({{"SURGE_SERVER_PORT", "1\n2"}}).find(R"(got "1\n2")"), std::string::npos);
}

TEST_F(ConfigTest, BadFileValueNamesSettingAndFileLine) {
  const std::string message = error_of("[server]\nport = \"8080\"\n");
  EXPECT_EQ(message, R"(server.port: expected an integer 0..65535, got "8080" (from )" +
                         path().string() + ":2)");
  EXPECT_NE(error_of("[server]\nport = -5\n").find("got -5 (from " + path().string() + ":2)"),
            std::string::npos);
  EXPECT_NE(error_of("[server]\nport = 80.5\n").find("got 80.5"), std::string::npos);
  EXPECT_NE(error_of("[server]\nmax_header_bytes = 16\n")
                .find("server.max_header_bytes: expected a size 256..16777216 bytes"),
            std::string::npos);
  EXPECT_NE(error_of("[server]\nidle_timeout_ms = \"10 parsecs\"\n")
                .find(R"(server.idle_timeout_ms: expected a duration)"),
            std::string::npos);
  EXPECT_NE(error_of("server = 8080\n").find("server: expected a table [server], got 8080"),
            std::string::npos);
}

TEST_F(ConfigTest, UnknownKeyInFileIsRejected) {
  EXPECT_EQ(
      error_of("[server]\nport = 1\nprot = 2\n"),
      "server.prot: unknown setting (did you mean server.port?) (from " + path().string() + ":3)");
  EXPECT_EQ(error_of("[metrics]\nport = 1\n"),
            "metrics: unknown section (from " + path().string() + ":1)");
  EXPECT_EQ(error_of("[database]\nurl = \"x\"\n"),
            "database.url: unknown setting (from " + path().string() + ":2)");
  EXPECT_EQ(
      error_of("[redis]\nshard = [\"a:1\"]\n"),
      "redis.shard: unknown setting (did you mean redis.shards?) (from " + path().string() + ":2)");
  EXPECT_EQ(error_of("[sever]\nport = 1\n"),
            "sever: unknown section (did you mean server?) (from " + path().string() + ":1)");
  EXPECT_NE(error_of("level = \"info\"\n").find("level: unknown setting"), std::string::npos);
  EXPECT_NE(error_of("[server.tls]\ncert = \"x\"\n").find("server.tls: unknown section"),
            std::string::npos);
}

TEST_F(ConfigTest, MalformedTomlReportsFileAndLine) {
  const std::string message = error_of("[server]\nport = 1\naddress = \n");
  EXPECT_EQ(message.rfind(path().string() + ":3:", 0), 0U) << message;
  EXPECT_NE(message.find("malformed TOML"), std::string::npos) << message;
}

TEST_F(ConfigTest, UnreadableFile) {
  const auto missing = std::filesystem::path(::testing::TempDir()) / "surge_no_such_config.toml";
  try {
    load_config(missing, fake_env());
    FAIL() << "a missing file was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string() + ": cannot read config file"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(load_config(std::filesystem::path(::testing::TempDir()), fake_env()), ConfigError);
  EXPECT_THROW(load_config(std::filesystem::path(), fake_env()), ConfigError);
}

TEST_F(ConfigTest, BooleanEnvironmentSpellings) {
  for (const char* yes : {"true", "1", "yes", "TRUE", "Yes"}) {
    const Config c = load_config(std::nullopt, fake_env({{"SURGE_SERVER_ACCESS_LOG", yes}}));
    EXPECT_TRUE(c.server.access_log) << yes;
  }
  for (const char* no : {"false", "0", "no", "False", "NO"}) {
    const Config c = load_config(std::nullopt, fake_env({{"SURGE_SERVER_ACCESS_LOG", no}}));
    EXPECT_FALSE(c.server.access_log) << no;
  }
  EXPECT_EQ(
      env_error_of({{"SURGE_SERVER_ACCESS_LOG", "maybe"}}),
      R"(server.access_log: expected a boolean (true/false/1/0/yes/no), got "maybe" (from SURGE_SERVER_ACCESS_LOG))");
}

TEST_F(ConfigTest, BooleanInFileIsStrict) {
  EXPECT_NE(error_of("[server]\naccess_log = \"yes\"\n")
                .find(R"(server.access_log: expected a boolean (true/false), got "yes")"),
            std::string::npos);
}

TEST_F(ConfigTest, ZeroThreadsResolvesToCores) {
  EXPECT_EQ(load_config(write_file("[server]\nthreads = 0\n"), fake_env()).server.threads, cores());
  EXPECT_EQ(load_config(std::nullopt, fake_env({{"SURGE_SERVER_THREADS", "0"}})).server.threads,
            cores());
  EXPECT_EQ(load_config(std::nullopt, fake_env({{"SURGE_SERVER_THREADS", "5"}})).server.threads,
            5U);
}

TEST_F(ConfigTest, DescribeRendersLoadableToml) {
  const Config c = load_config(std::nullopt, fake_env({{"SURGE_SERVER_PORT", "9123"},
                                                       {"SURGE_SERVER_ADDRESS", "a\"b"},
                                                       {"SURGE_SERVER_ACCESS_LOG", "no"}}));
  const std::string text = describe(c);
  EXPECT_EQ(text.rfind("[server]\naddress = \"a\\\"b\"\nport = 9123\n", 0), 0U) << text;
  EXPECT_NE(text.find("\nheader_timeout_ms = 10000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\naccess_log = false\nmodules = [\"user\", \"catalog\", \"orders\", "
                      "\"campaigns\"]\n\n[log]\nlevel = \"info\"\n"),
            std::string::npos)
      << text;

  // What describe prints loads back to the same configuration.
  const Config again = load_config(write_file(text), fake_env());
  EXPECT_EQ(describe(again), text);
}

TEST_F(ConfigTest, NewSectionDefaultsEqualStructDefaults) {
  const Config c = load_config(std::nullopt, fake_env());

  const pg::Settings db;
  EXPECT_EQ(c.database.primary, db.primary);
  EXPECT_TRUE(c.database.primary.empty());  // no database configured
  EXPECT_EQ(c.database.replicas, db.replicas);
  EXPECT_EQ(c.database.connections_per_thread, db.connections_per_thread);
  EXPECT_EQ(c.database.connect_timeout, db.connect_timeout);
  EXPECT_EQ(c.database.query_timeout, db.query_timeout);
  EXPECT_EQ(c.database.max_replica_lag, db.max_replica_lag);
  EXPECT_EQ(c.database.health_interval, db.health_interval);
  EXPECT_EQ(c.database.read_your_writes_window, db.read_your_writes_window);

  const redis::Settings r;
  EXPECT_EQ(c.redis.shards, r.shards);
  EXPECT_EQ(c.redis.connections_per_thread, r.connections_per_thread);
  EXPECT_EQ(c.redis.connect_timeout, r.connect_timeout);
  EXPECT_EQ(c.redis.command_timeout, r.command_timeout);
  EXPECT_EQ(c.redis.breaker_failures, r.breaker_failures);
  EXPECT_EQ(c.redis.breaker_open_for, r.breaker_open_for);
  EXPECT_EQ(c.redis.health_interval, r.health_interval);

  const cache::TwoLevelOptions k;
  EXPECT_EQ(c.cache.l1_enabled, k.l1_enabled);
  EXPECT_EQ(c.cache.l2_enabled, k.l2_enabled);
  EXPECT_EQ(c.cache.l1.max_entries, k.l1.max_entries);
  EXPECT_EQ(c.cache.l1.max_bytes, k.l1.max_bytes);
  EXPECT_EQ(c.cache.l1.ttl, k.l1.ttl);
  EXPECT_EQ(c.cache.l1.negative_ttl, k.l1.negative_ttl);
  EXPECT_EQ(c.cache.l1.shards, k.l1.shards);
  EXPECT_EQ(c.cache.l1.jitter, k.l1.jitter);
  EXPECT_EQ(c.cache.l2_ttl, k.l2_ttl);
  EXPECT_EQ(c.cache.l2_negative_ttl, k.l2_negative_ttl);
  EXPECT_EQ(c.cache.l2_jitter, k.l2_jitter);

  EXPECT_EQ(c.auth, AuthSettings{});
  EXPECT_TRUE(c.auth.token_secret.empty());
  EXPECT_TRUE(c.auth.admin_token.empty());
  EXPECT_EQ(c.auth.token_ttl, 86400s);
}

TEST_F(ConfigTest, NewSectionsFromFile) {
  const auto file = write_file(R"(
[database]
primary = "postgresql://surge@db-primary:5432/surge"
replicas = ["postgresql://surge@db-replica-1/surge", "postgresql://surge@db-replica-2/surge"]
connections_per_thread = 4
connect_timeout_ms = "2s"
query_timeout_ms = 7000
max_replica_lag_ms = 500
health_interval_ms = 100
read_your_writes_window_ms = 0

[redis]
shards = ["127.0.0.1:7001", "redis-1:7002", "[::1]:7003"]
connections_per_thread = 2
connect_timeout_ms = 300
command_timeout_ms = "2s"
breaker_failures = 3
breaker_open_for_ms = "5s"
health_interval_ms = 1000

[cache]
l1_enabled = false
l2_enabled = false
l1_max_entries = 5000
l1_max_bytes = "8MiB"
l1_ttl_ms = "2s"
l1_negative_ttl_ms = 100
l1_shards = 8
l2_ttl_s = "5m"
l2_negative_ttl_s = 10

[auth]
token_secret = "s3cret"
admin_token = "adm1n"
token_ttl_s = "1h"
)");
  const Config c = load_config(file, fake_env());
  EXPECT_EQ(c.database.primary, "postgresql://surge@db-primary:5432/surge");
  EXPECT_EQ(c.database.replicas,
            (std::vector<std::string>{"postgresql://surge@db-replica-1/surge",
                                      "postgresql://surge@db-replica-2/surge"}));
  EXPECT_EQ(c.database.connections_per_thread, 4U);
  EXPECT_EQ(c.database.connect_timeout, 2s);
  EXPECT_EQ(c.database.query_timeout, 7s);
  EXPECT_EQ(c.database.max_replica_lag, 500ms);
  EXPECT_EQ(c.database.health_interval, 100ms);
  EXPECT_EQ(c.database.read_your_writes_window, 0ms);

  EXPECT_EQ(c.redis.shards,
            (std::vector<std::string>{"127.0.0.1:7001", "redis-1:7002", "[::1]:7003"}));
  EXPECT_EQ(c.redis.connections_per_thread, 2U);
  EXPECT_EQ(c.redis.connect_timeout, 300ms);
  EXPECT_EQ(c.redis.command_timeout, 2s);
  EXPECT_EQ(c.redis.breaker_failures, 3U);
  EXPECT_EQ(c.redis.breaker_open_for, 5s);
  EXPECT_EQ(c.redis.health_interval, 1s);

  EXPECT_FALSE(c.cache.l1_enabled);
  EXPECT_FALSE(c.cache.l2_enabled);
  EXPECT_EQ(c.cache.l1.max_entries, 5000U);
  EXPECT_EQ(c.cache.l1.max_bytes, 8U * 1024 * 1024);
  EXPECT_EQ(c.cache.l1.ttl, 2s);
  EXPECT_EQ(c.cache.l1.negative_ttl, 100ms);
  EXPECT_EQ(c.cache.l1.shards, 8U);
  EXPECT_EQ(c.cache.l2_ttl, 300s);
  EXPECT_EQ(c.cache.l2_negative_ttl, 10s);

  EXPECT_EQ(c.auth.token_secret, "s3cret");
  EXPECT_EQ(c.auth.admin_token, "adm1n");
  EXPECT_EQ(c.auth.token_ttl, 3600s);
}

TEST_F(ConfigTest, ListsFromEnvironment) {
  const auto file = write_file(
      "[database]\nreplicas = [\"postgresql://surge@r1/surge\"]\n"
      "[redis]\nshards = [\"127.0.0.1:6379\"]\n");
  // Comma-separated, spaces around items trimmed; the environment beats the file.
  Config c =
      load_config(file, fake_env({{"SURGE_REDIS_SHARDS", " 127.0.0.1:7001 ,127.0.0.1:7002\t"},
                                  {"SURGE_DATABASE_REPLICAS", "postgresql://surge@r2/surge"}}));
  EXPECT_EQ(c.redis.shards, (std::vector<std::string>{"127.0.0.1:7001", "127.0.0.1:7002"}));
  EXPECT_EQ(c.database.replicas, std::vector<std::string>{"postgresql://surge@r2/surge"});

  // An empty (or blank) variable is the empty list, overriding the file too.
  c = load_config(file, fake_env({{"SURGE_REDIS_SHARDS", ""}, {"SURGE_DATABASE_REPLICAS", "  "}}));
  EXPECT_TRUE(c.redis.shards.empty());
  EXPECT_TRUE(c.database.replicas.empty());
}

TEST_F(ConfigTest, ModulesDefaultToAllAndAreChosenByName) {
  Config c = load_config(write_file(""), fake_env());
  EXPECT_EQ(c.modules, (std::vector<std::string>{"user", "catalog", "orders", "campaigns"}));
  c = load_config(write_file("[server]\nmodules = [\"orders\"]\n"),
                  fake_env({{"SURGE_SERVER_MODULES", "campaigns, user"}}));
  EXPECT_EQ(c.modules, (std::vector<std::string>{"campaigns", "user"}));
  EXPECT_EQ(
      env_error_of({{"SURGE_SERVER_MODULES", "orders,payments"}}),
      R"(server.modules[1]: expected one of user, catalog, orders, campaigns, got "payments" (from SURGE_SERVER_MODULES))");
}

TEST_F(ConfigTest, EmptyListInFile) {
  const Config c =
      load_config(write_file("[database]\nreplicas = []\n[redis]\nshards = []\n"), fake_env());
  EXPECT_TRUE(c.database.replicas.empty());
  EXPECT_TRUE(c.redis.shards.empty());
  EXPECT_NE(describe(c).find("\nreplicas = []\n"), std::string::npos);
  EXPECT_NE(describe(c).find("\nshards = []\n"), std::string::npos);
}

TEST_F(ConfigTest, BadShardAddressNamesItemAndSource) {
  EXPECT_EQ(
      env_error_of({{"SURGE_REDIS_SHARDS", "127.0.0.1:7001,localhost"}}),
      R"(redis.shards[1]: expected host:port with a port 1..65535, got "localhost" (from SURGE_REDIS_SHARDS))");
  for (const char* bad : {"h:0", "h:65536", "h:", ":7001", "h:7001x", "h:+80", "::1:7001", "[::1]",
                          "[::1]7001", "h 1:7001", "h:1:2"}) {
    EXPECT_NE(env_error_of({{"SURGE_REDIS_SHARDS", std::string("a:1,") + bad}})
                  .find("redis.shards[1]: expected host:port"),
              std::string::npos)
        << bad;
  }
  EXPECT_EQ(
      env_error_of({{"SURGE_REDIS_SHARDS", "a:1,,b:2"}}),
      R"(redis.shards[1]: expected host:port with a port 1..65535, got "" (from SURGE_REDIS_SHARDS))");

  EXPECT_EQ(
      error_of("[redis]\nshards = [\n  \"127.0.0.1:7001\",\n  \"127.0.0.1:70001\",\n]\n"),
      R"(redis.shards[1]: expected host:port with a port 1..65535, got "127.0.0.1:70001" (from )" +
          path().string() + ":4)");
  EXPECT_EQ(error_of("[redis]\nshards = [\"a:1\", 7002]\n"),
            "redis.shards[1]: expected a string, got 7002 (from " + path().string() + ":2)");
  EXPECT_EQ(
      error_of("[redis]\nshards = \"a:1\"\n"),
      R"(redis.shards: expected an array of strings, got "a:1" (from )" + path().string() + ":2)");
  EXPECT_EQ(error_of("[database]\nreplicas = [\"\"]\n"),
            R"(database.replicas[0]: expected a non-empty string, got "" (from )" +
                path().string() + ":2)");
}

TEST_F(ConfigTest, DurationsInSeconds) {
  const Config c = load_config(
      std::nullopt, fake_env({{"SURGE_CACHE_L2_TTL_S", "2h"}, {"SURGE_AUTH_TOKEN_TTL_S", "7d"}}));
  EXPECT_EQ(c.cache.l2_ttl, 7200s);
  EXPECT_EQ(c.auth.token_ttl, 7 * 86400s);
  EXPECT_EQ(
      env_error_of({{"SURGE_CACHE_L2_TTL_S", "0"}}),
      R"(cache.l2_ttl_s: expected a duration 1..2592000 s (like 60, 60s, 5m, 1h, 1d), got "0" (from SURGE_CACHE_L2_TTL_S))");
  EXPECT_NE(env_error_of({{"SURGE_AUTH_TOKEN_TTL_S", "1500ms"}}).find("auth.token_ttl_s: expected"),
            std::string::npos);
}

TEST_F(ConfigTest, NewSectionRanges) {
  EXPECT_NE(env_error_of({{"SURGE_DATABASE_CONNECTIONS_PER_THREAD", "0"}})
                .find("database.connections_per_thread: expected an integer 1..256"),
            std::string::npos);
  EXPECT_NE(env_error_of({{"SURGE_REDIS_CONNECTIONS_PER_THREAD", "257"}})
                .find("redis.connections_per_thread: expected an integer 1..256"),
            std::string::npos);
  EXPECT_NE(env_error_of({{"SURGE_REDIS_BREAKER_FAILURES", "0"}}).find("redis.breaker_failures"),
            std::string::npos);
  EXPECT_NE(env_error_of({{"SURGE_CACHE_L1_MAX_ENTRIES", "0"}}).find("cache.l1_max_entries"),
            std::string::npos);
  EXPECT_NE(env_error_of({{"SURGE_CACHE_L1_TTL_MS", "0"}}).find("cache.l1_ttl_ms"),
            std::string::npos);
  // steady_clock durations (cache.l1_ttl_ms) take milliseconds like the rest.
  EXPECT_EQ(load_config(std::nullopt, fake_env({{"SURGE_CACHE_L1_TTL_MS", "1500"}})).cache.l1.ttl,
            1500ms);
}

TEST_F(ConfigTest, DescribeRedactsUriPasswords) {
  Config c;
  c.database.primary = "postgresql://surge:hunter2@db-primary:5432/surge?sslmode=require";
  c.database.replicas = {
      "postgresql://surge:p%40ss@r1,r2:5433/surge?target_session_attrs=any",
      "postgresql://surge@r3/surge?password=qwerty&sslmode=disable",
      "host=r4 user=surge password='se cr\\'et' dbname=surge",
      "postgresql://surge@r5/surge",
      "postgresql://surge:sl/ash#x@r6/surge",  // unencoded: still masked
  };
  const std::string text = describe(c);
  EXPECT_NE(
      text.find(R"(primary = "postgresql://surge:***@db-primary:5432/surge?sslmode=require")"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          R"(replicas = ["postgresql://surge:***@r1,r2:5433/surge?target_session_attrs=any", )"
          R"("postgresql://surge@r3/surge?password=***&sslmode=disable", )"
          R"("host=r4 user=surge password=*** dbname=surge", )"
          R"("postgresql://surge@r5/surge", )"
          R"("postgresql://surge:***@r6/surge"])"),
      std::string::npos)
      << text;
  for (const char* password : {"hunter2", "p%40ss", "qwerty", "se cr", "sl/ash"}) {
    EXPECT_EQ(text.find(password), std::string::npos) << password << "\n" << text;
  }
}

TEST_F(ConfigTest, SecretsMasked) {
  const Config c = load_config(std::nullopt, fake_env({{"SURGE_AUTH_TOKEN_SECRET", "t0ps3cret"},
                                                       {"SURGE_AUTH_ADMIN_TOKEN", "adm1n-t0ken"}}));
  EXPECT_EQ(c.auth.token_secret, "t0ps3cret");
  EXPECT_EQ(c.auth.admin_token, "adm1n-t0ken");
  const std::string text = describe(c);
  EXPECT_NE(
      text.find("\n[auth]\ntoken_secret = \"***\"\nadmin_token = \"***\"\ntoken_ttl_s = 86400\n"),
      std::string::npos)
      << text;
  EXPECT_EQ(text.find("t0ps3cret"), std::string::npos);
  EXPECT_EQ(text.find("adm1n-t0ken"), std::string::npos);

  // Not configured stays visible as such.
  const std::string unset = describe(load_config(std::nullopt, fake_env()));
  EXPECT_NE(unset.find("\ntoken_secret = \"\"\nadmin_token = \"\"\n"), std::string::npos) << unset;
}

TEST_F(ConfigTest, DescribeRoundTripsEverySection) {
  // Every setting away from its default (secrets and passwords excepted:
  // describe() masks them on purpose).
  const auto file = write_file(R"(
[server]
address = "0.0.0.0"
port = 9001
threads = 3
max_connections = 77
max_header_bytes = "8KiB"
max_body_bytes = 0
header_timeout_ms = 1234
idle_timeout_ms = "2m"
shutdown_timeout_ms = 0
access_log = false

[log]
level = "warn"

[database]
primary = "host=db user=surge dbname=surge"
replicas = ["postgresql://surge@r1/surge", "postgresql://surge@r2:5433/surge?sslmode=disable"]
connections_per_thread = 9
connect_timeout_ms = 1111
query_timeout_ms = 2222
max_replica_lag_ms = 3333
health_interval_ms = 444
read_your_writes_window_ms = 5555

[redis]
shards = ["10.0.0.1:7001", "[fe80::1]:7002", "redis-3:7003"]
connections_per_thread = 3
connect_timeout_ms = 123
command_timeout_ms = 456
breaker_failures = 7
breaker_open_for_ms = 789
health_interval_ms = 1010

[cache]
l1_enabled = false
l2_enabled = false
l1_max_entries = 4242
l1_max_bytes = "3MiB"
l1_ttl_ms = 4321
l1_negative_ttl_ms = 321
l1_shards = 32
l2_ttl_s = 123
l2_negative_ttl_s = 45

[auth]
token_ttl_s = 3600

[users]
hash_threads = 3
hash_max_pending = 9
hash_opslimit = 1
hash_memlimit = "8MiB"
login_limit_enabled = false
login_limit_per_name = 4
login_limit_per_address = 6
login_limit_window_s = "2m"

[profile]
l2_ttl_s = 12
marker_ttl_s = 34

[signin]
time_zone = "Asia/Shanghai"
base_points = 7
streak_bonus_points = 0
streak_bonus_max_days = 9
day_end_margin_s = 0

[publish]
dir = "/srv/static"
retention_s = "5m"
[worker]
address = "0.0.0.0"
port = 9091
threads = 3
consumers = 4
batch_size = 50
claim_idle_ms = "2s"
max_deliveries = 7
poll_interval_ms = 5
publish_interval_s = "2m"
)");
  const Config c = load_config(file, fake_env());
  const std::string text = describe(c);
  const Config again = load_config(write_file(text), fake_env());
  EXPECT_EQ(describe(again), text);

  EXPECT_EQ(again.server.max_body_bytes, c.server.max_body_bytes);
  EXPECT_EQ(again.log.level, "warn");
  EXPECT_EQ(again.database.primary, c.database.primary);
  EXPECT_EQ(again.database.replicas, c.database.replicas);
  EXPECT_EQ(again.database.health_interval, 444ms);
  EXPECT_EQ(again.redis.shards, c.redis.shards);
  EXPECT_EQ(again.redis.shards.size(), 3U);
  EXPECT_EQ(again.redis.breaker_failures, 7U);
  EXPECT_EQ(again.cache.l1_enabled, false);
  EXPECT_EQ(again.cache.l1.max_bytes, 3U * 1024 * 1024);
  EXPECT_EQ(again.cache.l1.ttl, 4321ms);
  EXPECT_EQ(again.cache.l1.shards, 32U);
  EXPECT_EQ(again.cache.l2_ttl, 123s);
  EXPECT_EQ(again.cache.l2_negative_ttl, 45s);
  EXPECT_EQ(again.auth, c.auth);
  EXPECT_EQ(again.auth.token_ttl, 3600s);
  EXPECT_EQ(again.users.passwords.threads, 3U);
  EXPECT_EQ(again.users.passwords.max_pending, 9U);
  EXPECT_EQ(again.users.passwords.opslimit, 1U);
  EXPECT_EQ(again.users.passwords.memlimit, 8U * 1024 * 1024);
  EXPECT_FALSE(again.users.login_limits.enabled);
  EXPECT_EQ(again.users.login_limits.per_name, 4U);
  EXPECT_EQ(again.users.login_limits.per_address, 6U);
  EXPECT_EQ(again.users.login_limits.window, 120s);
  EXPECT_EQ(again.profile, (ProfileSettings{.l2_ttl = 12s, .marker_ttl = 34s}));
  EXPECT_EQ(again.signin.time_zone, "Asia/Shanghai");
  EXPECT_EQ(again.signin.base_points, 7);
  EXPECT_EQ(again.signin.streak_bonus_points, 0);
  EXPECT_EQ(again.signin.streak_bonus_max_days, 9);
  EXPECT_EQ(again.signin.day_end_margin, 0s);
  EXPECT_EQ(again.publish, (PublishSettings{.dir = "/srv/static", .retention = 300s}));

  EXPECT_EQ(again.worker.address, "0.0.0.0");
  EXPECT_EQ(again.worker.port, 9091);
  EXPECT_EQ(again.worker.threads, 3U);
  EXPECT_EQ(again.worker.queue.consumers, 4U);
  EXPECT_EQ(again.worker.queue.batch_size, 50U);
  EXPECT_EQ(again.worker.queue.claim_idle, 2000ms);
  EXPECT_EQ(again.worker.queue.max_deliveries, 7U);
  EXPECT_EQ(again.worker.queue.poll_interval, 5ms);
  EXPECT_EQ(again.worker.publish_interval, 120s);

  // Each section once, in table order.
  for (const char* section : {"[server]", "[log]", "[database]", "[redis]", "[cache]", "[auth]",
                              "[users]", "[profile]", "[signin]", "[publish]", "[worker]"}) {
    EXPECT_EQ(text.find(section), text.rfind(section)) << section;
    EXPECT_NE(text.find(section), std::string::npos) << section;
  }
  EXPECT_NE(text.find(R"(shards = ["10.0.0.1:7001", "[fe80::1]:7002", "redis-3:7003"])"),
            std::string::npos)
      << text;
}

TEST_F(ConfigTest, ModuleSectionsDefaultToTheirStructs) {
  const Config c = load_config(std::nullopt, fake_env());
  const users::PasswordSettings passwords;
  EXPECT_EQ(c.users.passwords.threads, passwords.threads);
  EXPECT_EQ(c.users.passwords.max_pending, passwords.max_pending);
  EXPECT_EQ(c.users.passwords.opslimit, passwords.opslimit);
  EXPECT_EQ(c.users.passwords.memlimit, passwords.memlimit);
  const users::LoginLimitSettings limits;
  EXPECT_EQ(c.users.login_limits.enabled, limits.enabled);
  EXPECT_EQ(c.users.login_limits.per_name, limits.per_name);
  EXPECT_EQ(c.users.login_limits.per_address, limits.per_address);
  EXPECT_EQ(c.users.login_limits.window, limits.window);
  EXPECT_EQ(c.profile, ProfileSettings{});
  const signin::Settings signin;
  EXPECT_EQ(c.signin.time_zone, signin.time_zone);
  EXPECT_EQ(c.signin.base_points, signin.base_points);
  EXPECT_EQ(c.signin.streak_bonus_points, signin.streak_bonus_points);
  EXPECT_EQ(c.signin.streak_bonus_max_days, signin.streak_bonus_max_days);
  EXPECT_EQ(c.signin.day_end_margin, signin.day_end_margin);
  EXPECT_NO_THROW(signin::validate(c.signin));
  EXPECT_EQ(c.publish, PublishSettings{});
  EXPECT_EQ(c.publish.dir, "var/static");
  const worker::Settings queue;
  EXPECT_EQ(c.worker.queue.consumers, queue.consumers);
  EXPECT_EQ(c.worker.queue.batch_size, queue.batch_size);
  EXPECT_EQ(c.worker.queue.claim_idle, queue.claim_idle);
  EXPECT_EQ(c.worker.queue.max_deliveries, queue.max_deliveries);
  EXPECT_EQ(c.worker.queue.poll_interval, queue.poll_interval);
  EXPECT_EQ(c.worker.port, 8081);
  EXPECT_EQ(c.worker.publish_interval, 30s);
}

TEST_F(ConfigTest, PublishSection) {
  const Config c = load_config(std::nullopt, fake_env({{"SURGE_PUBLISH_DIR", "/tmp/static"},
                                                       {"SURGE_PUBLISH_RETENTION_S", "30"}}));
  EXPECT_EQ(c.publish.dir, "/tmp/static");
  EXPECT_EQ(c.publish.retention, 30s);
  EXPECT_NE(env_error_of({{"SURGE_PUBLISH_DIR", ""}}).find("publish.dir"), std::string::npos);
  EXPECT_NE(env_error_of({{"SURGE_PUBLISH_RETENTION_S", "0"}}).find("publish.retention_s"),
            std::string::npos);
}

TEST_F(ConfigTest, CampaignsSection) {
  EXPECT_EQ(load_config(std::nullopt, fake_env({})).campaigns.hot_retention, 7 * 24h);
  const Config c = load_config(std::nullopt, fake_env({{"SURGE_CAMPAIGNS_HOT_RETENTION_S", "2d"}}));
  EXPECT_EQ(c.campaigns.hot_retention, 48h);
  EXPECT_EQ(load_config(std::nullopt, fake_env({{"SURGE_CAMPAIGNS_HOT_RETENTION_S", "0"}}))
                .campaigns.hot_retention,
            0s);
  EXPECT_NE(
      env_error_of({{"SURGE_CAMPAIGNS_HOT_RETENTION_S", "400d"}}).find("campaigns.hot_retention_s"),
      std::string::npos);
}

TEST_F(ConfigTest, WorkerSectionRanges) {
  const Config c = load_config(
      std::nullopt, fake_env({{"SURGE_WORKER_PORT", "0"}, {"SURGE_WORKER_CLAIM_IDLE_MS", "30s"}}));
  EXPECT_EQ(c.worker.port, 0);
  EXPECT_EQ(c.worker.queue.claim_idle, 30000ms);
  EXPECT_NE(env_error_of({{"SURGE_WORKER_CONSUMERS", "0"}}).find("worker.consumers"),
            std::string::npos);
  EXPECT_NE(env_error_of({{"SURGE_WORKER_BATCH_SIZE", "0"}}).find("worker.batch_size"),
            std::string::npos);
  EXPECT_NE(env_error_of({{"SURGE_WORKER_CLAIM_IDLE_MS", "10"}}).find("worker.claim_idle_ms"),
            std::string::npos);
  EXPECT_NE(env_error_of({{"SURGE_WORKER_PORT", "70000"}}).find("worker.port"), std::string::npos);
}

TEST_F(ConfigTest, SigninTimeZoneIsCheckedAtLoad) {
  const Config c = load_config(std::nullopt, fake_env({{"SURGE_SIGNIN_TIME_ZONE", "Asia/Tokyo"}}));
  EXPECT_EQ(c.signin.time_zone, "Asia/Tokyo");

  for (const char* bad : {"Mars/Olympus_Mons", "../etc/passwd", "", "Europe//Paris"}) {
    const std::string message = env_error_of({{"SURGE_SIGNIN_TIME_ZONE", bad}});
    EXPECT_NE(message.find("signin.time_zone: expected an IANA time zone name"), std::string::npos)
        << message;
    EXPECT_NE(message.find("SURGE_SIGNIN_TIME_ZONE"), std::string::npos) << message;
  }
}

TEST_F(ConfigTest, ModuleSectionRanges) {
  EXPECT_NE(env_error_of({{"SURGE_USERS_HASH_THREADS", "0"}}).find("users.hash_threads"),
            std::string::npos);
  EXPECT_NE(env_error_of({{"SURGE_USERS_HASH_MEMLIMIT", "1KiB"}}).find("users.hash_memlimit"),
            std::string::npos);
  EXPECT_NE(env_error_of({{"SURGE_SIGNIN_BASE_POINTS", "0"}}).find("signin.base_points"),
            std::string::npos);
  EXPECT_NE(env_error_of({{"SURGE_PROFILE_MARKER_TTL_S", "0"}}).find("profile.marker_ttl_s"),
            std::string::npos);
  // The largest accepted value fits the 32-bit field unchanged.
  const Config c =
      load_config(std::nullopt, fake_env({{"SURGE_SIGNIN_STREAK_BONUS_POINTS", "1000000"}}));
  EXPECT_EQ(c.signin.streak_bonus_points, 1'000'000);
}

}  // namespace
}  // namespace surge::app
