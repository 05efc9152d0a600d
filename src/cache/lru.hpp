#pragma once

// ShardedLru: the process-wide L1 cache shared by every I/O thread.
//
//   key ──XXH3──► h ──(h >> 32) & (shards-1)──► shard
//
//   shard (one cache line of its own: mutex, counters)
//   ┌──────────────────────────────────────────────────────────────┐
//   │ mutex                                                        │
//   │ index: boost::unordered_flat_set<Node*>  (lookup by key + h) │
//   │ lru:   head ⇄ node ⇄ node ⇄ … ⇄ tail     (intrusive, no alloc)│
//   │ bytes, tick, generations[64]                                 │
//   └──────────────────────────────────────────────────────────────┘
//   Node: key, value (shared_ptr<const string>, nullptr = known absent),
//         expiry, hash, promotion stamp, cost
//
// Every shard is bounded by max_entries / shards entries AND
// max_bytes / shards bytes (cost = key + value + kEntryOverhead); an insert
// that breaks either bound evicts from the tail. Entries expire after their
// TTL, jittered by ±jitter so entries filled in one burst do not expire in one
// burst (avalanche). Negative entries (value == nullptr) record that the key is
// known absent, with their own shorter TTL (penetration).
//
// A hit is: read the coarse clock, hash, one shard lock, one probe, a splice to
// the head. Option lazy_promotion skips the splice when the node was placed at
// the head fewer than size/8 placements ago: it is then provably in the most
// recent eighth of the list (each placement puts exactly one node in front of
// it), so moving it buys little and costs four cache-line writes under the
// lock. Measured neutral on the 2-core target (cache/README.md), hence off by
// default: exact LRU.
//
// Generations: every shard keeps 64 striped generation counters. invalidate()
// bumps the key's stripe; a miss reports it (Lookup::generation) and
// put(..., if_generation) drops the fill when it changed in between, so a load
// that started before an invalidation never installs its stale result after
// it. A stripe is shared by unrelated keys: a concurrent invalidation of one
// of them drops the fill too, which costs a later miss, never correctness.
//
// Thread safety: every member function may be called concurrently from any
// thread. Lifetime: the Registry must outlive the cache; the gauge callbacks
// registered in it own the counters they read, so a scrape after the cache is
// destroyed reads zero instead of freed memory. A cache name may be used once
// per Registry (the gauges are registered once; a second one throws
// std::invalid_argument).

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/registry.hpp"

namespace surge::cache {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;

// The time source. MUST be thread-safe and monotonic.
using NowFn = std::function<TimePoint()>;
// A uniform random number in [0, 1). MUST be thread-safe.
using UniformFn = std::function<double()>;

// CLOCK_MONOTONIC_COARSE (same epoch as steady_clock, a few ms behind): reading
// it costs a few ns instead of ~20, and TTLs of about a second do not need
// more precision than its tick.
TimePoint coarse_now() noexcept;

// Uniform in [0, 1) from a per-thread generator: no lock, no shared state.
double thread_uniform() noexcept;

// ttl scaled by a factor drawn uniformly from [1 - jitter, 1 + jitter) using
// uniform (a number in [0, 1)). jitter is clamped to [0, 1].
Duration jittered(Duration ttl, double jitter, double uniform) noexcept;

// The value of an entry. Readers keep a reference while they write the
// response; nullptr in a stored entry means "known absent".
using Value = std::shared_ptr<const std::string>;
using Generation = std::uint64_t;

struct LruOptions {
  // Rounded up to a power of two; 0 = max(16, 2 × hardware threads).
  std::size_t shards = 0;
  // Bounds of the whole cache, split evenly between shards (rounded down, at
  // least 1 per shard): an entry costing more than max_bytes / shards is never
  // cached. Tests that check exact bounds use one shard.
  std::size_t max_entries = 100'000;
  std::size_t max_bytes = std::size_t{64} << 20;
  Duration ttl = std::chrono::seconds(1);
  Duration negative_ttl = std::chrono::milliseconds(250);
  double jitter = 0.2;  // TTL × [1 - jitter, 1 + jitter)
  NowFn now;            // empty: coarse_now
  UniformFn uniform;    // empty: thread_uniform
  // Skip the LRU splice for entries already in the most recent eighth (see
  // the top of this file): approximate LRU, fewer writes under the lock.
  bool lazy_promotion = false;
};

enum class Found : std::uint8_t {
  kMiss,    // not cached (or expired): load it
  kAbsent,  // a negative entry: the key is known not to exist
  kValue,   // a value
};

struct Lookup {
  Found found = Found::kMiss;
  Value value;  // non-null iff found == kValue
  // On a miss: the key's generation, to pass to put(..., if_generation).
  Generation generation = 0;

  bool hit() const noexcept { return found != Found::kMiss; }
};

class ShardedLru {
 public:
  // Per-entry bytes beyond key and value: the node, its index slot and the
  // value's shared_ptr control block + std::string (make_shared). An estimate
  // that keeps max_bytes close to the real heap use of small entries.
  static constexpr std::size_t kEntryOverhead = 160;

  // Registers surge_cache_{hits,misses}_total{cache=name,tier="l1"},
  // surge_cache_evictions_total{cache} and the gauges surge_cache_entries and
  // surge_cache_bytes{cache}. Throws std::invalid_argument on invalid options
  // (max_entries or max_bytes 0, negative TTLs) or a name already used.
  ShardedLru(metrics::Registry& registry, std::string_view name, LruOptions options = {});
  ~ShardedLru();
  ShardedLru(const ShardedLru&) = delete;
  ShardedLru& operator=(const ShardedLru&) = delete;
  ShardedLru(ShardedLru&&) = delete;
  ShardedLru& operator=(ShardedLru&&) = delete;

  // Looks the key up; an expired entry is removed and reported as a miss.
  // Allocates nothing.
  Lookup get(std::string_view key);

  // Inserts or replaces the entry, placing it at the head. value == nullptr
  // stores a negative entry. ttl defaults to options.ttl (negative_ttl for a
  // negative entry); jitter is applied either way. With if_generation, the put
  // happens only if the key's generation still equals it (see the top of this
  // file). Returns whether the entry was stored: false when the generation
  // changed, ttl <= 0, or the entry alone exceeds a shard's byte budget (an
  // older entry of the key is then removed, so no stale value survives).
  bool put(std::string_view key, Value value, std::optional<Duration> ttl = std::nullopt,
           std::optional<Generation> if_generation = std::nullopt);

  // Removes the entry; returns whether one was there (expired or not).
  bool erase(std::string_view key);

  // Removes the entry and bumps the key's generation: fills that observed the
  // old generation are dropped.
  void invalidate(std::string_view key);

  // The key's current generation (the value a miss would report).
  Generation generation(std::string_view key) const;

  // Removes every entry (generations unchanged).
  void clear();

  // Entries (expired ones not yet removed included) and their bytes, summed
  // over shards without locking: exact when the cache is quiescent.
  std::size_t size() const noexcept;
  std::size_t bytes() const noexcept;
  std::size_t shard_count() const noexcept { return shard_mask_ + 1; }

  // The bytes an entry is charged: key + value + kEntryOverhead.
  static std::size_t entry_cost(std::string_view key, const Value& value) noexcept;

 private:
  struct Node;
  struct Shard;
  struct Stats;
  class Graveyard;

  Shard& shard_for(std::uint64_t hash) const noexcept;
  TimePoint now() const { return now_ ? now_() : coarse_now(); }
  double uniform() const { return uniform_ ? uniform_() : thread_uniform(); }

  LruOptions options_;
  NowFn now_;
  UniformFn uniform_;
  std::size_t shard_mask_ = 0;
  std::unique_ptr<Shard[]> shards_;  // NOLINT(*-avoid-c-arrays): fixed count, non-movable
  // Shared with the gauge callbacks, which may outlive the cache.
  std::shared_ptr<Stats> stats_;
  metrics::Counter hits_;
  metrics::Counter misses_;
  metrics::Counter evictions_;
};

}  // namespace surge::cache
