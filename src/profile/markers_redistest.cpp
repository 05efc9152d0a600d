// Write markers and fenced L2 fills against a live Redis (the Lua scripts).
//
// Starts its own redis-server (free port, no persistence, temporary folder)
// unless SURGE_TEST_REDIS="host:port" names one (keys then carry a per-run
// random user id range, so concurrent runs do not collide). No database: the
// pg::Cluster is constructed but never started (its markers are local).
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
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
#include "redis/test_support/local_servers.hpp"

namespace surge::profile {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using redis::test_support::LocalRedis;

// ===========================================================================
// One Redis server and one I/O thread
// ===========================================================================

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

  LocalRedis server_;
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
