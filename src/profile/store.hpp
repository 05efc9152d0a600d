#pragma once

// ProfileStore: users' profiles behind the two-level cache, with
// read-your-writes across servers (DESIGN.md "User center").
//
//   get(id)
//     L1 "profile" (this process, ~1 s TTL, jitter) ─ hit ─────────► entry
//     L2 user:{id} on the user's shard ─ hit ─ fill L1 ────────────► entry
//     loader: observe marker user:{id}:lsn (markers.hpp)
//             → pg read, min_lsn = max(local, shared marker)
//             → fenced L2 fill, L1 fill (generation-checked) ────► entry
//     Concurrent misses of one key share one load (single flight); an
//     unknown id is cached as absent (penetration) and returns nullptr.
//
//   update(id, patch) / any other write of a user's profile data
//     commit on the primary (→ LSN) → after_write(id, lsn):
//       note_write(id, lsn) locally; Lua on the user's shard: marker :=
//       max(marker, lsn).n+1 and DEL user:{id} (+ the caller's keys);
//       drop L1 here; publish the key so every server drops its L1 copy.
//
// Why each step (the races they close are drawn in markers.hpp):
// - The marker makes another server's next load read a node that has
//   replayed the write (the replica only if it has, else the primary).
// - The fence keeps a load that raced with the write from re-filling L2 with
//   pre-write data; TwoLevelCache's generations do the same for L1 once the
//   broadcast (or the local drop) has arrived.
// - The L1 drop here comes after the marker is set: a local load starting in
//   between would otherwise read the old marker and fill L1 with stale data.
// What remains: another server may answer from its L1 until the broadcast
// reaches it (a Redis pub/sub hop, well under a millisecond on one host,
// typically faster than the client's next request through the load
// balancer).
//
// Degradation (DESIGN.md principle 4): with the user's shard down, L2 errors
// are counted by TwoLevelCache and the loader answers; the marker cannot be
// read, so the load goes to the primary (markers.hpp) and nothing is filled
// into L2. after_write() then cannot delete the L2 entry on that shard:
// entries written before the outage may be served after it for up to the L2
// TTL (keep cache.l2_ttl short, or use the admin "user" scope). The
// broadcast goes through every shard that is up, so the other servers' L1
// copies are still dropped. Without Redis at all (shards == nullptr) the
// cache is L1-only and cross-server freshness is bounded by the L1 TTL:
// single-server deployments only.
//
// Errors: database failures propagate as pg::Error (the handlers map them);
// Redis failures never do.
//
// Thread safety: any I/O thread. Lifetime: the Cluster, the Shards and the
// Registry outlive the store; destroy it after the I/O threads stopped.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "cache/two_level.hpp"
#include "metrics/registry.hpp"
#include "pg/cluster.hpp"
#include "profile/fenced_remote_cache.hpp"
#include "profile/markers.hpp"
#include "profile/profile.hpp"
#include "redis/shards.hpp"

namespace surge::profile {

struct Settings {
  // The tiers of the "profile" cache (cache name "profile" in the metrics).
  // l2_ttl bounds how long an entry can outlive a write whose L2 delete
  // failed (shard down): keep it short.
  cache::TwoLevelOptions cache = [] {
    cache::TwoLevelOptions o;
    o.l2_ttl = std::chrono::seconds(30);
    return o;
  }();
  // Lifetime of the shared write marker; must exceed the slowest load
  // (database query_timeout plus pool wait). Also bounds how long a user's
  // reads after a write ask for a node that has replayed it.
  std::chrono::seconds marker_ttl{60};
};

// The fields PATCH /api/v1/me may change; nullopt = unchanged.
struct Patch {
  std::optional<std::string> nickname;
  std::optional<std::string> avatar_url;
  bool empty() const noexcept { return !nickname && !avatar_url; }
};

class ProfileStore {
 public:
  // shards may be null (no Redis). Subscribes to cache invalidations.
  ProfileStore(pg::Cluster& db, redis::Shards* shards, const Settings& settings,
               metrics::Registry& registry);
  ~ProfileStore();
  ProfileStore(const ProfileStore&) = delete;
  ProfileStore& operator=(const ProfileStore&) = delete;

  // The user's cache entry (decode with decode_cached()); nullptr when there
  // is no such user.
  boost::asio::awaitable<cache::Value> get(std::uint64_t user_id);

  // Applies `patch` (already validated) on the primary and makes it visible
  // everywhere (after_write) before returning the new profile; nullopt when
  // there is no such user. An empty patch still writes (updated_at): callers
  // answer an empty PATCH from get() instead.
  boost::asio::awaitable<std::optional<Profile>> update(std::uint64_t user_id, Patch patch);

  // For any module whose committed write (at `lsn`) changes what a profile
  // shows (the sign-in's points): see the top of this file. `also_delete`:
  // more keys on the user's shard ("user:{id}:...") to delete with the
  // marker update. False if Redis could not be told (counted; the write
  // stands).
  boost::asio::awaitable<bool> after_write(std::uint64_t user_id, pg::Lsn lsn,
                                           std::vector<std::string> also_delete = {});

  // Admin refresh: data may have changed behind the application's back.
  // Marks the user at the primary's current WAL position (so the reload is
  // fresh) and drops every cached copy. False if Redis could not be told.
  boost::asio::awaitable<bool> invalidate(std::uint64_t user_id);

  // The min_lsn for a read of the user's data by any module (see markers.hpp;
  // kPrimaryLsn when the shard is unreadable).
  boost::asio::awaitable<pg::Lsn> read_min_lsn(std::uint64_t user_id);

  // For modules that cache other per-user data on the user's shard (the
  // orders' page 1): the marker protocol without touching the profile entry.
  // observe(): min_lsn and the fence a fenced fill of such a key must check
  // (markers.hpp). mark_write(): after a commit at `lsn`, raise the marker
  // and delete `keys` in one script; false if the shard was unreachable.
  boost::asio::awaitable<SharedMarkers::Observed> observe(std::uint64_t user_id);
  boost::asio::awaitable<bool> mark_write(std::uint64_t user_id, pg::Lsn lsn,
                                          std::vector<std::string> keys);

  cache::TwoLevelCache& cache() noexcept { return *cache_; }

 private:
  boost::asio::awaitable<std::optional<std::string>> load(std::uint64_t user_id);

  pg::Cluster& db_;
  SharedMarkers markers_;
  std::unique_ptr<FencedRemoteCache> remote_;  // null without Redis
  std::unique_ptr<cache::TwoLevelCache> cache_;
  metrics::Counter updates_;
  metrics::Counter publish_errors_;
};

}  // namespace surge::profile
