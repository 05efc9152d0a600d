#include "app/config.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <thread>

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
  EXPECT_EQ(error_of("[database]\nurl = \"x\"\n"),
            "database: unknown section (from " + path().string() + ":1)");
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
  EXPECT_NE(text.find("\naccess_log = false\n\n[log]\nlevel = \"info\"\n"), std::string::npos)
      << text;

  // What describe prints loads back to the same configuration.
  const Config again = load_config(write_file(text), fake_env());
  EXPECT_EQ(describe(again), text);
}

}  // namespace
}  // namespace surge::app
