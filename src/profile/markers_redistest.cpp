// Write markers and fenced L2 fills against a live Redis (the Lua scripts).
//
// Starts its own redis-server (free port, no persistence, temporary folder)
// unless SURGE_TEST_REDIS="host:port" names one (keys then carry a per-run
// random user id range, so concurrent runs do not collide). No database: the
// pg::Cluster is constructed but never started (its markers are local).
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <signal.h>
#include <string>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "cache/two_level.hpp"
#include "metrics/registry.hpp"
#include "pg/cluster.hpp"
#include "profile/fenced_remote_cache.hpp"
#include "profile/keys.hpp"
#include "profile/markers.hpp"
#include "profile/profile.hpp"
#include "redis/shards.hpp"

namespace surge::profile {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// ===========================================================================
// One Redis server and one I/O thread
// ===========================================================================

std::uint16_t free_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

bool accepts(std::uint16_t port) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  boost::system::error_code ec;
  s.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  return !ec;
}

class RedisServer {
 public:
  RedisServer() {
    if (const char* env = std::getenv("SURGE_TEST_REDIS"); env != nullptr && *env != '\0') {
      const std::string list = env;
      address_ = list.substr(0, list.find(','));
      return;
    }
    std::string pattern = std::filesystem::temp_directory_path() / "surge-profile-redistest-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    dir_ = pattern;
    const std::uint16_t port = free_port();
    const std::string port_text = std::to_string(port);
    const std::string log = dir_ + "/redis.log";
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) {
      throw std::runtime_error("fork failed");
    }
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the test
      if (::getppid() != parent) {
        ::_exit(127);
      }
      ::execl("/usr/bin/redis-server", "redis-server", "--port", port_text.c_str(), "--bind",
              "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir",
              dir_.c_str(), "--logfile", log.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!accepts(port)) {
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("redis-server did not start");
      }
      std::this_thread::sleep_for(5ms);
    }
    address_ = "127.0.0.1:" + port_text;
  }
  ~RedisServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  const std::string& address() const { return address_; }

 private:
  std::string address_;
  std::string dir_;
  pid_t pid_ = -1;
};

class ProfileMarkersRedisTest : public ::testing::Test {
 protected:
  ProfileMarkersRedisTest()
      : guard_(asio::make_work_guard(io_)),
        db_(database_settings(), {&io_}, registry_),
        shards_(redis_settings(server_.address()), {&io_}, registry_),
        markers_(db_, &shards_, 60s, registry_),
        remote_(shards_, registry_) {
    shards_.start();
    thread_ = std::thread([this] { io_.run(); });
    std::mt19937_64 rng(std::random_device{}());
    user_ = 1'000'000'000 + rng() % 1'000'000'000;
  }
  ~ProfileMarkersRedisTest() override {
    shards_.stop();
    guard_.reset();
    io_.stop();
    thread_.join();
  }

  static pg::Settings database_settings() {
    pg::Settings s;
    s.primary = "postgresql://surge@127.0.0.1:1/never";  // never started
    return s;
  }
  static redis::Settings redis_settings(const std::string& address) {
    redis::Settings s;
    s.shards = {address};
    return s;
  }

  // Runs a coroutine on the I/O thread and waits for its result.
  template <typename T>
  T run(asio::awaitable<T> work) {
    return asio::co_spawn(io_, std::move(work), asio::use_future).get();
  }

  asio::awaitable<std::optional<std::string>> get(std::string key) {
    redis::Reply r = co_await shards_.command(0, {"GET", key});
    co_return r.as_optional_string();
  }
  asio::awaitable<bool> set_plain(std::string key, std::string value) {
    co_await shards_.command(0, {"SET", key, value});
    co_return true;
  }
  asio::awaitable<bool> fill(std::string key, std::string value) {
    co_await remote_.set(key, value, 30s);
    co_return true;
  }

  std::string entry(std::string_view fence) {
    Profile p;
    p.id = user_;
    p.name = "u";
    return encode_cached(fence, p);
  }

  RedisServer server_;
  metrics::Registry registry_;
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  pg::Cluster db_;
  redis::Shards shards_;
  SharedMarkers markers_;
  FencedRemoteCache remote_;
  std::thread thread_;
  std::uint64_t user_ = 0;
};

TEST_F(ProfileMarkersRedisTest, MarkKeepsTheLargestLsnAndAlwaysChangesTheFence) {
  const SharedMarkers::Observed none = run(markers_.observe(user_));
  EXPECT_EQ(none.fence, "");
  EXPECT_EQ(none.min_lsn, 0U);

  EXPECT_TRUE(run(markers_.mark(user_, 0x5000, {})));
  const SharedMarkers::Observed first = run(markers_.observe(user_));
  EXPECT_EQ(first.fence, "0000000000005000.1");
  EXPECT_EQ(first.min_lsn, 0x5000U);

  // A writer that committed earlier marks later: the LSN stays, the fence moves.
  EXPECT_TRUE(run(markers_.mark(user_, 0x4000, {})));
  const SharedMarkers::Observed second = run(markers_.observe(user_));
  EXPECT_EQ(second.fence, "0000000000005000.2");
  EXPECT_EQ(second.min_lsn, 0x5000U);

  // Across the 32-bit halves.
  EXPECT_TRUE(run(markers_.mark(user_, 0x1'0000'0000ULL, {})));
  EXPECT_EQ(run(markers_.observe(user_)).fence, "0000000100000000.3");

  // Unknown LSN: the primary for the marker's lifetime.
  EXPECT_TRUE(run(markers_.mark(user_, 0, {})));
  EXPECT_EQ(run(markers_.observe(user_)).min_lsn, pg::kPrimaryLsn);
}

TEST_F(ProfileMarkersRedisTest, MarkDeletesTheEntriesWithIt) {
  const std::string key = profile_key(user_);
  const std::string extra = user_key(user_, ":signin");
  run(set_plain(key, "x"));
  run(set_plain(extra, "y"));
  EXPECT_TRUE(run(markers_.mark(user_, 0x10, {key, extra})));
  EXPECT_FALSE(run(get(key)));
  EXPECT_FALSE(run(get(extra)));
}

TEST_F(ProfileMarkersRedisTest, FillHappensOnlyWhileTheFenceHolds) {
  const std::string key = profile_key(user_);

  // No marker: an entry loaded with fence "" is stored.
  run(fill(key, entry("")));
  EXPECT_EQ(run(get(key)), entry(""));

  // A write marks (and deletes); a load that saw no marker must not fill.
  EXPECT_TRUE(run(markers_.mark(user_, 0x20, {key})));
  run(fill(key, entry("")));
  EXPECT_FALSE(run(get(key)));

  // A load that saw the current marker fills.
  const std::string fence = run(markers_.observe(user_)).fence;
  run(fill(key, entry(fence)));
  EXPECT_EQ(run(get(key)), entry(fence));

  // The race: a load observes, a write marks, the load fills → dropped.
  EXPECT_TRUE(run(markers_.mark(user_, 0x30, {key})));
  run(fill(key, entry(fence)));
  EXPECT_FALSE(run(get(key)));

  // Unknown marker (shard was unreadable) or a foreign value: never stored.
  run(fill(key, entry(kNoFill)));
  run(fill(key, "not a profile entry"));
  EXPECT_FALSE(run(get(key)));
}

TEST_F(ProfileMarkersRedisTest, AbsentEntriesAreStoredOnlyWithoutAMarker) {
  const std::string key = profile_key(user_);
  run(fill(key, std::string(cache::kL2AbsentMarker)));
  EXPECT_EQ(run(get(key)), std::string(cache::kL2AbsentMarker));
  EXPECT_TRUE(run(markers_.mark(user_, 0x40, {key})));
  run(fill(key, std::string(cache::kL2AbsentMarker)));
  EXPECT_FALSE(run(get(key)));
}

TEST_F(ProfileMarkersRedisTest, LocalNoteWriteCountsToo) {
  EXPECT_TRUE(run(markers_.mark(user_, 0x7777, {})));
  EXPECT_EQ(db_.user_min_lsn(user_), 0x7777U);  // mark() noted the write locally
}

}  // namespace
}  // namespace surge::profile
