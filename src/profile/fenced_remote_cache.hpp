#pragma once

// The profile cache's L2: cache::RedisRemoteCache with a fenced set().
//
// TwoLevelCache fills L2 with set(key, value, ttl) after a load. Here that
// write happens only if the key's write marker still equals the fence the
// loader saw before reading the database (markers.hpp), in one Lua script on
// the user's shard:
//
//   if (GET user:{42}:lsn or "") == fence then SET user:{42} value EX ttl end
//
// The fence travels inside the value (profile.hpp encode_cached); for the
// absent marker (an unknown user) the fence is "" — an absent entry is only
// stored while the user has no marker. A value whose fence is kNoFill (the
// marker was unreadable) or that does not decode is not stored at all.
//
// get/del/publish_invalidation/subscribe are RedisRemoteCache's.
//
// Metrics: surge_profile_l2_fills_total{result="stored"|"fenced"}.
//
// Thread safety: as redis::Shards. Lifetime: the Shards and the Registry
// outlive this object.

#include "cache/redis_remote_cache.hpp"
#include "cache/two_level.hpp"
#include "metrics/registry.hpp"
#include "redis/script.hpp"
#include "redis/shards.hpp"

namespace surge::profile {

class FencedRemoteCache final : public cache::RemoteCache {
 public:
  FencedRemoteCache(redis::Shards& shards, metrics::Registry& registry);

  boost::asio::awaitable<std::optional<std::string>> get(std::string_view key) override;
  boost::asio::awaitable<void> set(std::string_view key, std::string_view value,
                                   std::chrono::seconds ttl) override;
  boost::asio::awaitable<void> del(std::string_view key) override;
  boost::asio::awaitable<void> publish_invalidation(std::string_view key) override;

  // Routes every invalidation published by any server to `cache`.
  void subscribe(cache::TwoLevelCache& cache) { inner_.subscribe(cache); }

 private:
  redis::Shards& shards_;
  cache::RedisRemoteCache inner_;
  redis::Script fill_script_;
  metrics::Counter stored_;
  metrics::Counter fenced_;
};

}  // namespace surge::profile
