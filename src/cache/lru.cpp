#include "cache/lru.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <ctime>
#include <limits>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <utility>

#include <boost/intrusive/list.hpp>
#include <boost/unordered/unordered_flat_set.hpp>

// Inlined XXH3: the hash of a short key is then a handful of instructions
// instead of a call into libxxhash.
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace surge::cache {

// ---------------------------------------------------------------------------
// Clock, randomness, jitter.
// ---------------------------------------------------------------------------
TimePoint coarse_now() noexcept {
  // libstdc++'s steady_clock is CLOCK_MONOTONIC; the coarse variant counts
  // from the same origin, so the two time points compare meaningfully.
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return TimePoint(std::chrono::duration_cast<Duration>(std::chrono::seconds(ts.tv_sec) +
                                                        std::chrono::nanoseconds(ts.tv_nsec)));
}

double thread_uniform() noexcept {
  // splitmix64: tiny state, good enough to spread expiries.
  thread_local std::uint64_t state = [] {
    std::random_device device;
    return (std::uint64_t{device()} << 32) ^ device() ^
           std::hash<std::thread::id>{}(std::this_thread::get_id());
  }();
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

Duration jittered(Duration ttl, double jitter, double uniform) noexcept {
  jitter = std::clamp(jitter, 0.0, 1.0);
  uniform = std::clamp(uniform, 0.0, 1.0);
  const double factor = 1.0 + jitter * (2.0 * uniform - 1.0);
  return Duration(
      static_cast<Duration::rep>(std::llround(static_cast<double>(ttl.count()) * factor)));
}

// ---------------------------------------------------------------------------
// Nodes, index, shards.
// ---------------------------------------------------------------------------
namespace {

std::uint64_t hash_key(std::string_view key) noexcept {
  return XXH3_64bits(key.data(), key.size());
}

// Lookup key for the index: the hash is computed once per call and shared by
// the shard choice and the probe.
struct KeyRef {
  std::string_view key;
  std::uint64_t hash;
};

constexpr std::size_t kGenerationStripes = 64;

// Bits of the hash, chosen so that no two uses are correlated:
//   bits 0..7    the flat set's in-group tag
//   bits 32..    the shard
//   bits 48..53  the generation stripe
//   top bits     the flat set's group position
// (the set uses the hash as is: it is declared avalanching.)
std::size_t stripe_of(std::uint64_t hash) noexcept {
  return static_cast<std::size_t>(hash >> 48) & (kGenerationStripes - 1);
}

}  // namespace

struct ShardedLru::Node
    : boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::normal_link>> {
  std::string key;
  Value value;  // nullptr: known absent
  TimePoint expires;
  std::uint64_t hash = 0;
  std::uint64_t stamp = 0;  // shard tick when last placed at the head
  std::size_t cost = 0;
};

// Per-shard figures read by size(), bytes() and the gauge callbacks without the
// shard lock. Written only under the lock (plain stores, single writer).
struct ShardedLru::Stats {
  struct alignas(64) Cell {
    std::atomic<std::size_t> entries{0};
    std::atomic<std::size_t> bytes{0};
  };
  explicit Stats(std::size_t n) : cells(n) {}
  std::vector<Cell> cells;

  std::size_t entries() const noexcept {
    std::size_t sum = 0;
    for (const Cell& c : cells) {
      sum += c.entries.load(std::memory_order_relaxed);
    }
    return sum;
  }
  std::size_t bytes() const noexcept {
    std::size_t sum = 0;
    for (const Cell& c : cells) {
      sum += c.bytes.load(std::memory_order_relaxed);
    }
    return sum;
  }
};

struct alignas(64) ShardedLru::Shard {
  struct Hash {
    using is_transparent = void;
    using is_avalanching = void;  // XXH3: the set need not remix
    std::size_t operator()(const Node* n) const noexcept { return n->hash; }
    std::size_t operator()(const KeyRef& k) const noexcept { return k.hash; }
  };
  struct Eq {
    using is_transparent = void;
    bool operator()(const Node* a, const Node* b) const noexcept { return a == b; }
    bool operator()(const KeyRef& k, const Node* n) const noexcept {
      return k.hash == n->hash && k.key == n->key;
    }
    bool operator()(const Node* n, const KeyRef& k) const noexcept { return (*this)(k, n); }
  };

  using NodeList = boost::intrusive::list<Node, boost::intrusive::constant_time_size<false>>;

  mutable std::mutex mu;
  boost::unordered_flat_set<Node*, Hash, Eq> index;  // owns the nodes
  NodeList lru;                                      // head = most recent
  std::size_t bytes = 0;
  std::uint64_t tick = 0;  // placements at the head so far
  std::array<Generation, kGenerationStripes> generations{};
  std::size_t max_entries = 0;
  std::size_t max_bytes = 0;
  Stats::Cell* stats = nullptr;

  Shard() = default;
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;
  Shard(Shard&&) = delete;
  Shard& operator=(Shard&&) = delete;
  ~Shard() {
    lru.clear();
    for (Node* n : index) {
      delete n;  // NOLINT(cppcoreguidelines-owning-memory): the index owns the nodes
    }
  }

  void publish_stats() const noexcept {
    stats->entries.store(index.size(), std::memory_order_relaxed);
    stats->bytes.store(bytes, std::memory_order_relaxed);
  }

  void place_at_head(Node& n) noexcept {
    n.stamp = ++tick;
    lru.push_front(n);
  }

  void promote(Node& n, bool lazy) noexcept {
    // tick - stamp bounds the node's distance from the head: every placement
    // since its own put exactly one node in front of it.
    if (lazy && (tick - n.stamp) * 8 < index.size()) {
      return;
    }
    lru.erase(lru.iterator_to(n));
    place_at_head(n);
  }

  // Unlinks the node from the list and the index, leaving its memory to the
  // caller (freed outside the lock: the value may be the last reference to a
  // large string).
  void unlink(Node& n) noexcept {
    lru.erase(lru.iterator_to(n));
    index.erase(&n);
    bytes -= n.cost;
  }
};

// Nodes removed under a lock and freed after it: declared before the
// lock_guard, so destroyed after the unlock.
class ShardedLru::Graveyard {
 public:
  Graveyard() = default;
  Graveyard(const Graveyard&) = delete;
  Graveyard& operator=(const Graveyard&) = delete;
  Graveyard(Graveyard&&) = delete;
  Graveyard& operator=(Graveyard&&) = delete;
  ~Graveyard() {
    // NOLINTNEXTLINE(cppcoreguidelines-owning-memory): buried nodes are ours
    nodes_.clear_and_dispose([](Node* n) { delete n; });
  }
  void bury(Node& n) noexcept { nodes_.push_back(n); }
  // Evictions among the buried nodes (expired and erased ones are not).
  std::size_t evicted() const noexcept { return evicted_; }
  void count_eviction() noexcept { ++evicted_; }

 private:
  Shard::NodeList nodes_;
  std::size_t evicted_ = 0;
};

namespace {

std::size_t round_shards(std::size_t requested) {
  if (requested == 0) {
    const std::size_t threads = std::max(1U, std::thread::hardware_concurrency());
    requested = std::max<std::size_t>(16, 2 * threads);
  }
  return std::bit_ceil(requested);
}

}  // namespace

// ---------------------------------------------------------------------------
// ShardedLru.
// ---------------------------------------------------------------------------
ShardedLru::ShardedLru(metrics::Registry& registry, std::string_view name, LruOptions options)
    : options_(std::move(options)),
      now_(std::move(options_.now)),
      uniform_(std::move(options_.uniform)) {
  if (options_.max_entries == 0 || options_.max_bytes == 0) {
    throw std::invalid_argument("cache: max_entries and max_bytes must be positive");
  }
  if (options_.ttl <= Duration::zero() || options_.negative_ttl <= Duration::zero()) {
    throw std::invalid_argument("cache: ttl and negative_ttl must be positive");
  }
  if (!(options_.jitter >= 0.0 && options_.jitter <= 1.0)) {
    throw std::invalid_argument("cache: jitter must be in [0, 1]");
  }
  const std::size_t n = round_shards(options_.shards);
  shard_mask_ = n - 1;
  shards_ =
      std::make_unique<Shard[]>(n);  // NOLINT(*-avoid-c-arrays): sized at run time, never moved
  stats_ = std::make_shared<Stats>(n);
  for (std::size_t i = 0; i < n; ++i) {
    Shard& s = shards_[i];
    s.max_entries = std::max<std::size_t>(1, options_.max_entries / n);
    s.max_bytes = std::max<std::size_t>(1, options_.max_bytes / n);
    s.stats = &stats_->cells[i];
  }

  const std::string cache(name);
  hits_ = registry.counter("surge_cache_hits_total", "Cache lookups answered, by tier.",
                           {{"cache", cache}, {"tier", "l1"}});
  misses_ = registry.counter("surge_cache_misses_total", "Cache lookups not answered, by tier.",
                             {{"cache", cache}, {"tier", "l1"}});
  evictions_ =
      registry.counter("surge_cache_evictions_total",
                       "L1 entries evicted to stay within the size bounds.", {{"cache", cache}});
  // The callbacks hold the stats, not the cache: a scrape may outlive it.
  registry.gauge_callback("surge_cache_entries", "L1 entries.", {{"cache", cache}},
                          [stats = stats_] { return static_cast<double>(stats->entries()); });
  registry.gauge_callback("surge_cache_bytes", "L1 bytes charged (key + value + overhead).",
                          {{"cache", cache}},
                          [stats = stats_] { return static_cast<double>(stats->bytes()); });
}

ShardedLru::~ShardedLru() {
  for (Stats::Cell& c : stats_->cells) {
    c.entries.store(0, std::memory_order_relaxed);
    c.bytes.store(0, std::memory_order_relaxed);
  }
}

ShardedLru::Shard& ShardedLru::shard_for(std::uint64_t hash) const noexcept {
  return shards_[static_cast<std::size_t>(hash >> 32) & shard_mask_];
}

std::size_t ShardedLru::entry_cost(std::string_view key, const Value& value) noexcept {
  return key.size() + (value ? value->size() : 0) + kEntryOverhead;
}

Lookup ShardedLru::get(std::string_view key) {
  const std::uint64_t h = hash_key(key);
  Shard& s = shard_for(h);
  // Read the clock before the lock: it is not part of the critical section.
  const TimePoint t = now();
  Lookup result;
  Graveyard dead;
  {
    const std::lock_guard lock(s.mu);
    const auto it = s.index.find(KeyRef{key, h});
    if (it != s.index.end()) {
      Node& n = **it;
      if (n.expires > t) {
        s.promote(n, options_.lazy_promotion);
        result.found = n.value ? Found::kValue : Found::kAbsent;
        result.value = n.value;
      } else {
        s.unlink(n);
        s.publish_stats();
        dead.bury(n);
      }
    }
    if (!result.hit()) {
      result.generation = s.generations[stripe_of(h)];
    }
  }
  (result.hit() ? hits_ : misses_).add();
  return result;
}

bool ShardedLru::put(std::string_view key, Value value, std::optional<Duration> ttl,
                     std::optional<Generation> if_generation) {
  const std::uint64_t h = hash_key(key);
  Shard& s = shard_for(h);
  const Duration base = ttl.value_or(value ? options_.ttl : options_.negative_ttl);
  if (base <= Duration::zero()) {
    return false;
  }
  const TimePoint expires = now() + jittered(base, options_.jitter, uniform());
  const std::size_t cost = entry_cost(key, value);

  Graveyard dead;
  bool stored = false;
  {
    const std::lock_guard lock(s.mu);
    if (if_generation && *if_generation != s.generations[stripe_of(h)]) {
      return false;
    }
    const auto it = s.index.find(KeyRef{key, h});
    Node* n = it != s.index.end() ? *it : nullptr;
    if (cost > s.max_bytes) {
      // Too big to cache: drop any older version rather than keep serving it.
      if (n != nullptr) {
        s.unlink(*n);
        dead.bury(*n);
        s.publish_stats();
      }
      return false;
    }
    if (n != nullptr) {
      s.bytes = s.bytes - n->cost + cost;
      n->cost = cost;
      n->expires = expires;
      // The old value is released after the lock, with dead's nodes.
      std::swap(n->value, value);
      s.lru.erase(s.lru.iterator_to(*n));
      s.place_at_head(*n);
    } else {
      auto node = std::make_unique<Node>();
      node->key.assign(key);
      node->value = std::move(value);
      node->expires = expires;
      node->hash = h;
      node->cost = cost;
      s.index.insert(node.get());
      s.bytes += cost;
      s.place_at_head(*node.release());
    }
    while (s.index.size() > s.max_entries || s.bytes > s.max_bytes) {
      // Never the node just placed: it is at the head and fits on its own.
      Node& victim = s.lru.back();
      s.unlink(victim);
      dead.bury(victim);
      dead.count_eviction();
    }
    s.publish_stats();
    stored = true;
  }
  if (dead.evicted() != 0) {
    evictions_.add(dead.evicted());
  }
  return stored;
}

bool ShardedLru::erase(std::string_view key) {
  const std::uint64_t h = hash_key(key);
  Shard& s = shard_for(h);
  Graveyard dead;
  const std::lock_guard lock(s.mu);
  const auto it = s.index.find(KeyRef{key, h});
  if (it == s.index.end()) {
    return false;
  }
  Node& n = **it;
  s.unlink(n);
  s.publish_stats();
  dead.bury(n);
  return true;
}

void ShardedLru::invalidate(std::string_view key) {
  const std::uint64_t h = hash_key(key);
  Shard& s = shard_for(h);
  Graveyard dead;
  const std::lock_guard lock(s.mu);
  ++s.generations[stripe_of(h)];
  const auto it = s.index.find(KeyRef{key, h});
  if (it != s.index.end()) {
    Node& n = **it;
    s.unlink(n);
    s.publish_stats();
    dead.bury(n);
  }
}

Generation ShardedLru::generation(std::string_view key) const {
  const std::uint64_t h = hash_key(key);
  const Shard& s = shard_for(h);
  const std::lock_guard lock(s.mu);
  return s.generations[stripe_of(h)];
}

void ShardedLru::clear() {
  for (std::size_t i = 0; i <= shard_mask_; ++i) {
    Shard& s = shards_[i];
    Graveyard dead;
    const std::lock_guard lock(s.mu);
    while (!s.lru.empty()) {
      Node& n = s.lru.front();
      s.unlink(n);
      dead.bury(n);
    }
    s.publish_stats();
  }
}

std::size_t ShardedLru::size() const noexcept {
  return stats_->entries();
}

std::size_t ShardedLru::bytes() const noexcept {
  return stats_->bytes();
}

}  // namespace surge::cache
