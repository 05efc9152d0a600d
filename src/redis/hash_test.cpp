#include "redis/hash.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "metrics/registry.hpp"
#include "redis/shards.hpp"

namespace surge::redis {
namespace {

TEST(RedisHash, JumpHashReferenceValues) {
  // Edge cases: one bucket (or none) is always bucket 0.
  EXPECT_EQ(jump_consistent_hash(0, 1), 0U);
  EXPECT_EQ(jump_consistent_hash(123456789, 1), 0U);
  EXPECT_EQ(jump_consistent_hash(0, 0), 0U);
  // Shared with the Go (go-jump), Python and Rust implementations' tests.
  EXPECT_EQ(jump_consistent_hash(256, 1024), 520U);
  EXPECT_EQ(jump_consistent_hash(1, 60), 55U);
  EXPECT_EQ(jump_consistent_hash(2, 60), 46U);
  EXPECT_EQ(jump_consistent_hash(42, 57), 43U);
  EXPECT_EQ(jump_consistent_hash(0xDEAD10CCULL, 666), 361U);
  EXPECT_EQ(jump_consistent_hash(12345678901234567ULL, 1000), 368U);
}

TEST(RedisHash, ShardForIsStableAcrossRuns) {
  // Golden values: a change here moves every user's keys to another shard.
  EXPECT_EQ(hash_id("42"), 1303733993043075473ULL);  // XXH3_64bits, seed 0
  const std::vector<std::pair<std::string, std::array<std::size_t, 4>>> golden = {
      // id            over 2, 3, 8, 16 shards
      {"1", {1, 2, 7, 14}},         {"42", {0, 0, 3, 3}},    {"user:1001", {0, 2, 5, 5}},
      {"campaign:7", {0, 2, 7, 9}}, {"alice", {1, 1, 1, 9}},
  };
  const std::array<std::size_t, 4> counts = {2, 3, 8, 16};
  for (const auto& [id, want] : golden) {
    for (std::size_t i = 0; i < counts.size(); ++i) {
      EXPECT_EQ(shard_of(std::string_view(id), counts[i]), want[i]) << id << " over " << counts[i];
    }
  }
}

TEST(RedisHash, NumericIdsPlaceLikeTheirDecimalText) {
  for (std::uint64_t id : {0ULL, 1ULL, 42ULL, 1000003ULL, 18446744073709551615ULL}) {
    for (std::size_t n : {1U, 2U, 3U, 7U, 64U}) {
      EXPECT_EQ(shard_of(id, n), shard_of(std::to_string(id), n)) << id << " over " << n;
    }
  }
}

TEST(RedisHash, BalancedOverShards) {
  constexpr int kKeys = 100000;
  constexpr std::size_t kShards = 5;
  std::array<int, kShards> count{};
  for (int i = 0; i < kKeys; ++i) {
    ++count.at(shard_of(static_cast<std::uint64_t>(i), kShards));
  }
  for (int c : count) {
    EXPECT_NEAR(c, kKeys / static_cast<int>(kShards), kKeys / 100);  // within 1 %
  }
}

TEST(RedisHash, GrowingTwoToThreeMovesAThirdAndOnlyToTheNewShard) {
  constexpr int kKeys = 100000;
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    const std::string id = "user:" + std::to_string(i);
    const std::size_t before = shard_of(id, 2);
    const std::size_t after = shard_of(id, 3);
    if (before != after) {
      ++moved;
      EXPECT_EQ(after, 2U) << id;
    }
  }
  const double fraction = static_cast<double>(moved) / kKeys;
  EXPECT_GE(fraction, 0.30);
  EXPECT_LE(fraction, 0.37);
}

TEST(RedisHash, ShardsUsesTheSamePlacement) {
  boost::asio::io_context io;
  metrics::Registry registry;
  Settings settings;
  settings.shards = {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"};
  Shards shards(settings, {&io}, registry);
  EXPECT_EQ(shards.shard_count(), 3U);
  for (std::uint64_t id = 0; id < 1000; ++id) {
    EXPECT_EQ(shards.shard_for(id), shard_of(id, 3));
    EXPECT_EQ(shards.shard_for(std::to_string(id)), shard_of(id, 3));
  }
  EXPECT_EQ(shards.address(1), "127.0.0.1:2");
  EXPECT_EQ(shards.state(0).status, ShardState::Status::kDown);
  EXPECT_TRUE(shards.available(0));
}

TEST(RedisShards, RejectsBadSettings) {
  boost::asio::io_context io;
  metrics::Registry registry;
  Settings settings;
  EXPECT_THROW(Shards(settings, {&io}, registry), std::invalid_argument);
  settings.shards = {"127.0.0.1:6379"};
  EXPECT_THROW(Shards(settings, {}, registry), std::invalid_argument);
  settings.connections_per_thread = 0;
  EXPECT_THROW(Shards(settings, {&io}, registry), std::invalid_argument);
  settings.connections_per_thread = 1;
  settings.shards = {"127.0.0.1:"};
  EXPECT_THROW(Shards(settings, {&io}, registry), std::invalid_argument);
}

}  // namespace
}  // namespace surge::redis
