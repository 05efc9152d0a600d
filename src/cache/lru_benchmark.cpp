// ShardedLru micro-benchmarks: the L1 hit path (one thread and two threads
// contending, one hot key and random keys), with and without lazy promotion,
// with the coarse and the precise clock, and put at capacity (evictions).

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "cache/lru.hpp"
#include "metrics/registry.hpp"

namespace surge::cache {
namespace {

constexpr std::size_t kKeys = 1U << 14;  // 16 Ki keys: fits in L2/L3 like a hot set

const std::vector<std::string>& keys() {
  static const std::vector<std::string> k = [] {
    std::vector<std::string> v;
    v.reserve(kKeys);
    for (std::size_t i = 0; i < kKeys; ++i) {
      v.push_back(fmt::format("user:{}", 1'000'000 + i));  // 12 bytes: SSO, like a user id
    }
    return v;
  }();
  return k;
}

// A random walk over the keys, precomputed so the benchmark measures the cache.
const std::vector<std::uint32_t>& random_order() {
  static const std::vector<std::uint32_t> order = [] {
    std::vector<std::uint32_t> v(1U << 16);
    std::mt19937 rng(7);
    for (auto& i : v) {
      i = static_cast<std::uint32_t>(rng() % kKeys);
    }
    return v;
  }();
  return order;
}

// kOneShard*: every key behind one mutex, the worst case for contention,
// where skipping the splice should show if it ever does.
// A skewed walk: 90% of lookups go to 1% of the keys (a hot set: the flash
// sale's campaign, the celebrity's profile). Lazy promotion targets this.
const std::vector<std::uint32_t>& skewed_order() {
  static const std::vector<std::uint32_t> order = [] {
    std::vector<std::uint32_t> v(1U << 16);
    std::mt19937 rng(11);
    constexpr std::uint32_t kHot = kKeys / 100;
    for (auto& i : v) {
      i = static_cast<std::uint32_t>(rng() % 10 != 0 ? rng() % kHot : rng() % kKeys);
    }
    return v;
  }();
  return order;
}

enum Variant : int {
  kLazy = 0,
  kAlwaysSplice = 1,
  kPreciseClock = 2,
  kOneShardLazy = 3,
  kOneShardAlwaysSplice = 4,
};

// One cache per variant, shared by the threads of a ->Threads(2) run.
ShardedLru& cache(int variant) {
  static metrics::Registry registry;
  auto make = [](int v) {
    LruOptions o;
    o.max_entries = 4 * kKeys;
    o.max_bytes = std::size_t{256} << 20;
    o.ttl = std::chrono::hours(1);
    o.lazy_promotion = v != kAlwaysSplice && v != kOneShardAlwaysSplice;
    if (v == kOneShardLazy || v == kOneShardAlwaysSplice) {
      o.shards = 1;
    }
    if (v == kPreciseClock) {
      o.now = [] { return Clock::now(); };
    }
    auto c = std::make_unique<ShardedLru>(registry, fmt::format("bench{}", v), o);
    const Value value = std::make_shared<const std::string>(std::string(512, 'x'));
    for (const auto& k : keys()) {
      c->put(k, value);
    }
    return c;
  };
  static const std::array<std::unique_ptr<ShardedLru>, 5> caches = {
      make(kLazy), make(kAlwaysSplice), make(kPreciseClock), make(kOneShardLazy),
      make(kOneShardAlwaysSplice)};
  return *caches.at(static_cast<std::size_t>(variant));
}

void set_label(benchmark::State& state) {
  static constexpr std::array<const char*, 5> kNames = {
      "lazy", "always-splice", "precise-clock", "one-shard lazy", "one-shard always-splice"};
  state.SetLabel(kNames.at(static_cast<std::size_t>(state.range(0))));
}

void BM_LruGetHitSameKey(benchmark::State& state) {
  ShardedLru& c = cache(static_cast<int>(state.range(0)));
  const std::string& key = keys()[42];
  for (auto _ : state) {
    Lookup l = c.get(key);
    benchmark::DoNotOptimize(l);
  }
  set_label(state);
}
BENCHMARK(BM_LruGetHitSameKey)->Arg(kLazy)->Arg(kAlwaysSplice)->Arg(kPreciseClock);
BENCHMARK(BM_LruGetHitSameKey)->Arg(kLazy)->Arg(kAlwaysSplice)->Threads(2)->UseRealTime();

void BM_LruGetHitRandomKeys(benchmark::State& state) {
  ShardedLru& c = cache(static_cast<int>(state.range(0)));
  const auto& k = keys();
  const auto& order = random_order();
  // Threads start at different points of the walk.
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    Lookup l = c.get(k[order[i++ & (order.size() - 1)]]);
    benchmark::DoNotOptimize(l);
  }
  set_label(state);
}
BENCHMARK(BM_LruGetHitRandomKeys)->Arg(kLazy)->Arg(kAlwaysSplice)->Arg(kPreciseClock);
BENCHMARK(BM_LruGetHitRandomKeys)
    ->Arg(kLazy)
    ->Arg(kAlwaysSplice)
    ->Arg(kOneShardLazy)
    ->Arg(kOneShardAlwaysSplice)
    ->Threads(2)
    ->UseRealTime();

void BM_LruGetHitSkewed(benchmark::State& state) {
  ShardedLru& c = cache(static_cast<int>(state.range(0)));
  const auto& k = keys();
  const auto& order = skewed_order();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    Lookup l = c.get(k[order[i++ & (order.size() - 1)]]);
    benchmark::DoNotOptimize(l);
  }
  set_label(state);
}
BENCHMARK(BM_LruGetHitSkewed)->Arg(kLazy)->Arg(kAlwaysSplice);
BENCHMARK(BM_LruGetHitSkewed)
    ->Arg(kLazy)
    ->Arg(kAlwaysSplice)
    ->Arg(kOneShardLazy)
    ->Arg(kOneShardAlwaysSplice)
    ->Threads(2)
    ->UseRealTime();

void BM_LruGetMiss(benchmark::State& state) {
  ShardedLru& c = cache(kLazy);
  const std::string key = "user:absent";
  for (auto _ : state) {
    Lookup l = c.get(key);
    benchmark::DoNotOptimize(l);
  }
}
BENCHMARK(BM_LruGetMiss);

// Put of new keys into a full cache: every put evicts one entry.
void BM_LruPutEvicting(benchmark::State& state) {
  metrics::Registry registry;
  LruOptions o;
  o.max_entries = kKeys / 2;
  o.ttl = std::chrono::hours(1);
  ShardedLru c(registry, "put", o);
  const Value value = std::make_shared<const std::string>(std::string(512, 'x'));
  const auto& k = keys();
  const auto& order = random_order();
  std::size_t i = 0;
  for (auto _ : state) {
    c.put(k[order[i++ & (order.size() - 1)]], value);
  }
  state.counters["evictions"] = static_cast<double>(
      registry.counter("surge_cache_evictions_total", "", {{"cache", "put"}}).value());
}
BENCHMARK(BM_LruPutEvicting);

// Put replacing existing keys (the refill after expiry).
void BM_LruPutReplace(benchmark::State& state) {
  ShardedLru& c = cache(kLazy);
  const Value value = std::make_shared<const std::string>(std::string(512, 'x'));
  const auto& k = keys();
  const auto& order = random_order();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    c.put(k[order[i++ & (order.size() - 1)]], value);
  }
}
BENCHMARK(BM_LruPutReplace);
BENCHMARK(BM_LruPutReplace)->Threads(2)->UseRealTime();

// For scale: the clocks a hit reads.
void BM_ClockSteady(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(Clock::now());
  }
}
BENCHMARK(BM_ClockSteady);

void BM_ClockCoarse(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(coarse_now());
  }
}
BENCHMARK(BM_ClockCoarse);

}  // namespace
}  // namespace surge::cache
