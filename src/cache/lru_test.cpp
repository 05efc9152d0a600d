#include "cache/lru.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "metrics/registry.hpp"

namespace surge::cache {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A clock the test moves by hand (thread-safe: the hammer test reads it).
class FakeClock {
 public:
  TimePoint now() const { return TimePoint(Duration(ns_.load(std::memory_order_relaxed))); }
  void advance(Duration d) { ns_.fetch_add(d.count(), std::memory_order_relaxed); }
  NowFn fn() {
    return [this] { return now(); };
  }

 private:
  std::atomic<Duration::rep> ns_{Duration(seconds(1000)).count()};
};

Value val(std::string s) {
  return std::make_shared<const std::string>(std::move(s));
}

std::uint64_t counter(metrics::Registry& r, std::string_view name, const metrics::Labels& l) {
  return r.counter(name, "", l).value();
}

struct Fixture : ::testing::Test {
  metrics::Registry registry;
  FakeClock clock;

  LruOptions options(std::size_t max_entries, std::size_t max_bytes = 1 << 20) {
    LruOptions o;
    o.shards = 1;  // exact bounds and a single LRU order
    o.max_entries = max_entries;
    o.max_bytes = max_bytes;
    o.ttl = seconds(10);
    o.negative_ttl = seconds(1);
    o.jitter = 0.2;
    o.now = clock.fn();
    o.uniform = [] { return 0.5; };  // factor exactly 1
    return o;
  }
};

using LruTest = Fixture;

TEST_F(LruTest, GetReturnsWhatWasPut) {
  ShardedLru lru(registry, "t", options(10));
  EXPECT_EQ(lru.get("a").found, Found::kMiss);
  EXPECT_TRUE(lru.put("a", val("1")));
  const Lookup hit = lru.get("a");
  ASSERT_EQ(hit.found, Found::kValue);
  EXPECT_EQ(*hit.value, "1");
  EXPECT_EQ(lru.size(), 1U);
  EXPECT_EQ(lru.bytes(), ShardedLru::entry_cost("a", hit.value));
}

TEST_F(LruTest, EvictsLeastRecentlyUsedFirst) {
  ShardedLru lru(registry, "t", options(3));
  lru.put("a", val("1"));
  lru.put("b", val("2"));
  lru.put("c", val("3"));
  ASSERT_TRUE(lru.get("a").hit());  // order now a, c, b (b least recent)
  lru.put("d", val("4"));
  EXPECT_FALSE(lru.get("b").hit());
  EXPECT_TRUE(lru.get("a").hit());
  EXPECT_TRUE(lru.get("c").hit());
  EXPECT_TRUE(lru.get("d").hit());
  // Order: d, c, a → a is now the oldest.
  lru.put("e", val("5"));
  EXPECT_FALSE(lru.get("a").hit());
  EXPECT_EQ(lru.size(), 3U);
  EXPECT_EQ(counter(registry, "surge_cache_evictions_total", {{"cache", "t"}}), 2U);
}

TEST_F(LruTest, ReplacingAKeyMovesItToTheHeadAndRecharges) {
  ShardedLru lru(registry, "t", options(2));
  lru.put("a", val("1"));
  lru.put("b", val("2"));
  lru.put("a", val("a much longer value"));
  EXPECT_EQ(lru.size(), 2U);
  EXPECT_EQ(lru.bytes(), ShardedLru::entry_cost("a", val("a much longer value")) +
                             ShardedLru::entry_cost("b", val("2")));
  lru.put("c", val("3"));  // evicts b, the least recent
  EXPECT_FALSE(lru.get("b").hit());
  EXPECT_EQ(*lru.get("a").value, "a much longer value");
}

TEST_F(LruTest, BoundedByBytes) {
  const std::string v(100, 'x');
  const std::size_t cost = ShardedLru::entry_cost("k0", val(v));
  ShardedLru lru(registry, "t", options(1000, 3 * cost + cost / 2));
  for (int i = 0; i < 5; ++i) {
    lru.put(fmt::format("k{}", i), val(v));
    EXPECT_LE(lru.bytes(), 3 * cost + cost / 2);
  }
  EXPECT_EQ(lru.size(), 3U);
  EXPECT_FALSE(lru.get("k0").hit());
  EXPECT_FALSE(lru.get("k1").hit());
  EXPECT_TRUE(lru.get("k2").hit());
  EXPECT_TRUE(lru.get("k4").hit());

  // One large entry displaces as many small ones as it needs.
  lru.put("big", val(std::string(2 * 100 + 50, 'y')));
  EXPECT_LE(lru.bytes(), 3 * cost + cost / 2);
  EXPECT_TRUE(lru.get("big").hit());
}

TEST_F(LruTest, EntryLargerThanTheBudgetIsRefusedAndDropsTheOldVersion) {
  ShardedLru lru(registry, "t", options(10, 1000));
  ASSERT_TRUE(lru.put("k", val("small")));
  EXPECT_FALSE(lru.put("k", val(std::string(2000, 'x'))));
  EXPECT_FALSE(lru.get("k").hit());  // never the stale small value
  EXPECT_EQ(lru.size(), 0U);
  EXPECT_EQ(lru.bytes(), 0U);
}

TEST_F(LruTest, ExpiresAfterTtl) {
  ShardedLru lru(registry, "t", options(10));
  lru.put("a", val("1"));
  clock.advance(seconds(10) - milliseconds(1));
  EXPECT_TRUE(lru.get("a").hit());
  clock.advance(milliseconds(1));
  EXPECT_FALSE(lru.get("a").hit());
  EXPECT_EQ(lru.size(), 0U);  // removed on the expired read
}

TEST_F(LruTest, PerEntryTtlOverridesTheDefault) {
  ShardedLru lru(registry, "t", options(10));
  lru.put("a", val("1"), seconds(2));
  clock.advance(seconds(2));
  EXPECT_FALSE(lru.get("a").hit());
  EXPECT_FALSE(lru.put("b", val("1"), seconds(0)));
}

TEST_F(LruTest, JitterSpreadsExpiryWithinTheRange) {
  // The extremes of the injected randomness give the extremes of the range.
  auto o = options(10);
  double u = 0.0;
  o.uniform = [&u] { return u; };
  ShardedLru lru(registry, "t", o);
  u = 0.0;
  lru.put("low", val("1"));  // 10 s × 0.8
  u = 0.999999;
  lru.put("high", val("1"));  // 10 s × ~1.2
  clock.advance(seconds(8) - milliseconds(1));
  EXPECT_TRUE(lru.get("low").hit());
  clock.advance(milliseconds(1));
  EXPECT_FALSE(lru.get("low").hit());
  clock.advance(seconds(4) - milliseconds(2));
  EXPECT_TRUE(lru.get("high").hit());
  clock.advance(milliseconds(2));
  EXPECT_FALSE(lru.get("high").hit());
}

TEST(Jitter, StaysWithinBoundsAndSpreads) {
  const Duration ttl = seconds(1);
  Duration lo = Duration::max();
  Duration hi = Duration::min();
  for (int i = 0; i < 10'000; ++i) {
    const Duration d = jittered(ttl, 0.2, thread_uniform());
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_GE(lo, milliseconds(800));
  EXPECT_LT(hi, milliseconds(1200));
  // 10 000 draws cover nearly all of the 400 ms range.
  EXPECT_LT(lo, milliseconds(810));
  EXPECT_GT(hi, milliseconds(1190));
  EXPECT_EQ(jittered(ttl, 0.0, 0.9), ttl);
}

TEST_F(LruTest, NegativeEntriesHaveTheirOwnTtl) {
  ShardedLru lru(registry, "t", options(10));
  ASSERT_TRUE(lru.put("gone", nullptr));
  const Lookup l = lru.get("gone");
  EXPECT_EQ(l.found, Found::kAbsent);
  EXPECT_TRUE(l.hit());
  EXPECT_EQ(l.value, nullptr);
  clock.advance(seconds(1));  // negative_ttl, shorter than ttl
  EXPECT_EQ(lru.get("gone").found, Found::kMiss);
}

TEST_F(LruTest, HeterogeneousLookupBySubstring) {
  ShardedLru lru(registry, "t", options(10));
  const std::string long_key = "user:profile:v1:000000000123456789";
  lru.put(long_key, val("p"));
  // A view into a larger buffer, not NUL-terminated at the key's end.
  const std::string buffer = "GET " + long_key + " HTTP/1.1";
  const std::string_view view = std::string_view(buffer).substr(4, long_key.size());
  EXPECT_EQ(*lru.get(view).value, "p");
  EXPECT_FALSE(lru.get(std::string_view(buffer).substr(4, long_key.size() - 1)).hit());
}

TEST_F(LruTest, EraseAndClear) {
  ShardedLru lru(registry, "t", options(10));
  lru.put("a", val("1"));
  lru.put("b", val("2"));
  EXPECT_TRUE(lru.erase("a"));
  EXPECT_FALSE(lru.erase("a"));
  EXPECT_FALSE(lru.get("a").hit());
  lru.clear();
  EXPECT_EQ(lru.size(), 0U);
  EXPECT_EQ(lru.bytes(), 0U);
  EXPECT_FALSE(lru.get("b").hit());
}

TEST_F(LruTest, ConditionalPutIsDroppedAfterAnInvalidation) {
  ShardedLru lru(registry, "t", options(10));
  const Lookup miss = lru.get("k");
  ASSERT_FALSE(miss.hit());
  EXPECT_EQ(lru.generation("k"), miss.generation);

  lru.invalidate("k");  // a write committed while "k" was loading
  EXPECT_NE(lru.generation("k"), miss.generation);
  EXPECT_FALSE(lru.put("k", val("stale"), std::nullopt, miss.generation));
  EXPECT_FALSE(lru.get("k").hit());

  const Lookup again = lru.get("k");
  EXPECT_TRUE(lru.put("k", val("fresh"), std::nullopt, again.generation));
  EXPECT_EQ(*lru.get("k").value, "fresh");
}

TEST_F(LruTest, InvalidateDropsTheEntry) {
  ShardedLru lru(registry, "t", options(10));
  lru.put("k", val("1"));
  lru.invalidate("k");
  EXPECT_FALSE(lru.get("k").hit());
}

TEST_F(LruTest, LazyPromotionStillRescuesTheTail) {
  auto o = options(16);
  o.lazy_promotion = true;
  ShardedLru lru(registry, "t", o);
  for (int i = 0; i < 16; ++i) {
    lru.put(fmt::format("k{}", i), val("v"));
  }
  // k0 is the tail: far from the head, so a hit moves it.
  ASSERT_TRUE(lru.get("k0").hit());
  lru.put("new", val("v"));
  EXPECT_TRUE(lru.get("k0").hit());
  EXPECT_FALSE(lru.get("k1").hit());
}

TEST_F(LruTest, MetricsAreExported) {
  ShardedLru lru(registry, "users", options(10));
  lru.put("a", val("12345"));
  lru.get("a");
  lru.get("a");
  lru.get("b");
  EXPECT_EQ(counter(registry, "surge_cache_hits_total", {{"cache", "users"}, {"tier", "l1"}}), 2U);
  EXPECT_EQ(counter(registry, "surge_cache_misses_total", {{"cache", "users"}, {"tier", "l1"}}),
            1U);
  const std::string text = registry.render();
  EXPECT_NE(text.find("surge_cache_entries{cache=\"users\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find(fmt::format("surge_cache_bytes{{cache=\"users\"}} {}",
                                  ShardedLru::entry_cost("a", val("12345")))),
            std::string::npos)
      << text;
}

TEST_F(LruTest, GaugesOutliveTheCache) {
  { ShardedLru lru(registry, "gone", options(10)); }
  const std::string text = registry.render();  // must not touch freed memory
  EXPECT_NE(text.find("surge_cache_entries{cache=\"gone\"} 0"), std::string::npos) << text;
}

TEST_F(LruTest, RejectsInvalidOptions) {
  auto o = options(0);
  EXPECT_THROW(ShardedLru(registry, "a", o), std::invalid_argument);
  o = options(10);
  o.jitter = 1.5;
  EXPECT_THROW(ShardedLru(registry, "b", o), std::invalid_argument);
  o = options(10);
  o.negative_ttl = Duration::zero();
  EXPECT_THROW(ShardedLru(registry, "c", o), std::invalid_argument);
}

TEST_F(LruTest, ShardCountIsAPowerOfTwo) {
  LruOptions o = options(100);
  o.shards = 5;
  ShardedLru five(registry, "five", o);
  EXPECT_EQ(five.shard_count(), 8U);
  o.shards = 0;
  ShardedLru dflt(registry, "default", o);
  EXPECT_GE(dflt.shard_count(), 16U);
  EXPECT_EQ(dflt.shard_count() & (dflt.shard_count() - 1), 0U);
}

// Two threads mixing every operation over a small key space with tight
// bounds: the bounds hold throughout and nothing crashes (run under TSan).
TEST_F(LruTest, TwoThreadsHammering) {
  LruOptions o = options(64, 64 * 200);
  o.shards = 4;
  o.lazy_promotion = true;  // the exact path is the default elsewhere
  o.uniform = {};           // the default per-thread generator
  ShardedLru lru(registry, "hammer", o);
  std::array<std::string, 256> keys;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    keys[i] = fmt::format("key:{}", i);
  }
  const Value small = val("v");
  const Value large = val(std::string(100, 'x'));
  std::atomic<std::uint64_t> hits{0};

  auto work = [&](unsigned seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < 100'000; ++i) {
      const std::string& k = keys[rng() % keys.size()];
      switch (rng() % 16) {
        case 0:
          lru.put(k, (rng() & 1) ? large : small);
          break;
        case 1:
          lru.put(k, nullptr);
          break;
        case 2:
          lru.erase(k);
          break;
        case 3:
          lru.invalidate(k);
          break;
        case 4: {
          const Lookup m = lru.get(k);
          if (!m.hit()) {
            lru.put(k, small, std::nullopt, m.generation);
          }
          break;
        }
        case 5:
          clock.advance(milliseconds(1));
          break;
        default: {
          const Lookup l = lru.get(k);
          if (l.found == Found::kValue) {
            // Readers may hold the value after the entry is gone.
            EXPECT_FALSE(l.value->empty());
            hits.fetch_add(1, std::memory_order_relaxed);
          }
        }
      }
    }
  };
  std::thread a(work, 1);
  std::thread b(work, 2);
  a.join();
  b.join();

  EXPECT_LE(lru.size(), 64U);
  EXPECT_LE(lru.bytes(), 64U * 200);
  EXPECT_GT(hits.load(), 0U);
  // The per-shard figures match a recount of what is reachable.
  lru.clear();
  EXPECT_EQ(lru.size(), 0U);
  EXPECT_EQ(lru.bytes(), 0U);
}

}  // namespace
}  // namespace surge::cache
