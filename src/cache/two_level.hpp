#pragma once

// TwoLevelCache: the cache-aside helper every module uses.
//
//   get(key, loader)
//     L1 (ShardedLru, this process) ── hit ──────────────────────────► value
//       │ miss (generation g observed)
//       ▼ single flight per key: one of N concurrent callers goes on
//     L2 (RemoteCache: Redis) ── hit ── fill L1 if still g ──────────► value
//       │ miss, or an L2 error (counted, not thrown: degrade)
//       ▼
//     loader() ── fill L2, then L1 if still g ────────────────────────► value
//
//   invalidate(key)      drop L1 (generation++), del L2, publish
//   on_invalidation(key) drop L1 (generation++)    ← from the subscriber
//
// Absent keys: a loader that returns nullopt is cached as absent — a negative
// L1 entry (LruOptions::negative_ttl) and kL2AbsentMarker in L2
// (l2_negative_ttl) — so a storm of requests for a missing row does not reach
// the database (penetration). get() returns nullptr for them.
//
// Staleness: a load that started before an invalidation (local, or remote via
// on_invalidation) never fills L1 after it: the fill carries the generation
// seen at the L1 miss and is dropped if it changed, and the L2 fill is skipped
// too when that is already known. Callers arriving after an invalidation start
// a new flight instead of joining the old one. What remains: a load may write
// its result to L2 just after another server's del and before that server's
// publication arrives here; L2 then serves it until l2_ttl. Read-your-writes
// across that window is the replica-routing rule of DESIGN.md, not the cache's.
//
// Contract:
// - Thread safety: all member functions may be called concurrently from any
//   thread; get() resumes on the caller's executor.
// - Lifetime: the cache, its RemoteCache and the Registry MUST outlive every
//   get()/invalidate() in flight (destroy it after the I/O threads stopped).
// - Errors: L2 errors never reach the caller of get(): counted in
//   surge_cache_errors_total{tier="l2"}; an L2 read error falls through to the
//   loader. The loader's exceptions propagate to every caller that shared the
//   load and nothing is cached. invalidate() does not throw on L2 errors
//   (the write it follows has committed; an error here must not turn it into a
//   failed request): it counts them and returns false.
// - Keys and values are opaque bytes; a value MUST NOT equal kL2AbsentMarker
//   (it would read back as absent; it contains NUL bytes, so text and JSON
//   never do).

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "cache/lru.hpp"
#include "cache/single_flight.hpp"
#include "metrics/registry.hpp"

namespace surge::cache {

// The L2 seam, implemented over Redis in src/redis/ and by fakes in tests.
// Views passed in stay valid until the returned awaitable completes (callers
// await at once). Every member throws on a transport or server error.
class RemoteCache {
 public:
  RemoteCache() = default;
  RemoteCache(const RemoteCache&) = delete;
  RemoteCache& operator=(const RemoteCache&) = delete;
  RemoteCache(RemoteCache&&) = delete;
  RemoteCache& operator=(RemoteCache&&) = delete;
  virtual ~RemoteCache() = default;
  // nullopt = miss.
  virtual boost::asio::awaitable<std::optional<std::string>> get(std::string_view key) = 0;
  virtual boost::asio::awaitable<void> set(std::string_view key, std::string_view value,
                                           std::chrono::seconds ttl) = 0;
  virtual boost::asio::awaitable<void> del(std::string_view key) = 0;
  // Broadcasts the key to every server's TwoLevelCache::on_invalidation
  // (this one's included).
  virtual boost::asio::awaitable<void> publish_invalidation(std::string_view key) = 0;
};

// Stored in L2 for a key known to be absent.
inline constexpr std::string_view kL2AbsentMarker{"\0surge:absent\0", 14};

struct TwoLevelOptions {
  bool l1_enabled = true;  // false: every get goes to L2 (benchmarks of that path)
  bool l2_enabled = true;  // false: L1 and the loader only (a dead shard)
  LruOptions l1;           // l1.uniform also jitters the L2 TTLs
  std::chrono::seconds l2_ttl{60};
  std::chrono::seconds l2_negative_ttl{5};
  double l2_jitter = 0.2;  // L2 TTL × [1 - jitter, 1 + jitter), at least 1 s
};

class TwoLevelCache {
 public:
  // nullopt = the key does not exist (cached as absent).
  using Loader = std::function<boost::asio::awaitable<std::optional<std::string>>()>;

  // remote may be null (L2 off). Registers, besides the L1's metrics,
  // surge_cache_{hits,misses,errors}_total{cache=name,tier="l2"},
  // surge_cache_loads_total{cache} and surge_cache_loads_shared_total{cache}.
  // Throws std::invalid_argument on invalid options or a name already used.
  TwoLevelCache(metrics::Registry& registry, std::string_view name, TwoLevelOptions options,
                RemoteCache* remote);
  ~TwoLevelCache();
  TwoLevelCache(const TwoLevelCache&) = delete;
  TwoLevelCache& operator=(const TwoLevelCache&) = delete;
  TwoLevelCache(TwoLevelCache&&) = delete;
  TwoLevelCache& operator=(TwoLevelCache&&) = delete;

  // The value, nullptr if the key is absent. `loader` runs only if this call
  // leads the key's load (L1 and L2 missed); see the contract above. Keys of
  // up to 15 bytes are not copied to the heap (std::string SSO).
  //
  // GCC 12 hazard: build the loader as a named local and std::move it in —
  //   Loader loader = [this, id] { return load_user(this, id); };
  //   Value v = co_await cache.get(key, std::move(loader));
  // A capturing lambda written inside the co_await expression is
  // miscompiled (its captures are freed twice: seen here as a bad free).
  // The lambda itself must not be a coroutine: it returns the awaitable of
  // a named coroutine taking its parameters by value (STYLE.md 15).
  boost::asio::awaitable<Value> get(std::string key, Loader loader);

  // After a committed write: drops L1 here, deletes L2 and publishes the key so
  // every server drops its L1 copy. Returns false if the L2 delete or the
  // publication failed (counted); L1 is dropped regardless.
  boost::asio::awaitable<bool> invalidate(std::string key);

  // Called by the invalidation subscriber: drops this process's L1 copy and
  // detaches any load in flight for the key. Cheap, synchronous, any thread.
  void on_invalidation(std::string_view key);

  // nullptr when L1 is disabled.
  ShardedLru* l1() noexcept { return l1_.get(); }
  bool l2_enabled() const noexcept { return remote_ != nullptr; }

 private:
  // The single-flight body: L2, then the loader, then the fills. A named
  // coroutine with parameters by value (STYLE.md 15).
  boost::asio::awaitable<Value> load(std::string key, Loader loader, Generation generation);
  void fill_l1(std::string_view key, const Value& value, Generation generation);
  std::chrono::seconds l2_ttl_for(const Value& value) const;

  TwoLevelOptions options_;
  std::unique_ptr<ShardedLru> l1_;
  RemoteCache* remote_;
  metrics::Counter l2_hits_;
  metrics::Counter l2_misses_;
  metrics::Counter l2_errors_;
  metrics::Counter loads_;
  SingleFlight<Value> flights_;
};

}  // namespace surge::cache
