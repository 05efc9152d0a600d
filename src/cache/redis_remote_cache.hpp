#pragma once

// The L2 of TwoLevelCache over the Redis shards.
//
// Placement: a key's shard is chosen from its hash tag, the part between the
// first '{' and the next '}' — "user:{42}:profile" lives on shard_for("42"),
// like Redis Cluster — so every key of one user (or one campaign) sits on one
// shard. A key without a tag is placed by the whole key.
//
// Invalidations are published on kInvalidationChannel on every shard and
// every server subscribes on every shard (Shards::subscribe), so losing one
// shard loses no invalidation; duplicates are harmless (dropping an L1 entry
// twice is a no-op).
//
// Thread safety: as redis::Shards (any I/O thread). Lifetime: the Shards MUST
// outlive this object.

#include <string_view>

#include "cache/two_level.hpp"
#include "redis/shards.hpp"

namespace surge::cache {

inline constexpr std::string_view kInvalidationChannel = "surge:invalidate";

// The text a key is placed by (its hash tag, or the whole key).
std::string_view hash_tag(std::string_view key);

class RedisRemoteCache final : public RemoteCache {
 public:
  explicit RedisRemoteCache(redis::Shards& shards) : shards_(shards) {}

  boost::asio::awaitable<std::optional<std::string>> get(std::string_view key) override;
  boost::asio::awaitable<void> set(std::string_view key, std::string_view value,
                                   std::chrono::seconds ttl) override;
  boost::asio::awaitable<void> del(std::string_view key) override;
  boost::asio::awaitable<void> publish_invalidation(std::string_view key) override;

  // Routes every invalidation published by any server to `cache`.
  void subscribe(TwoLevelCache& cache);

 private:
  redis::Shards& shards_;
};

}  // namespace surge::cache
