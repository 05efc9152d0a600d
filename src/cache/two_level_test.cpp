#include "cache/two_level.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "metrics/registry.hpp"

namespace surge::cache {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using std::chrono::seconds;

// ---------------------------------------------------------------------------
// Fakes: a Redis that every "process" shares, a database, a clock.
// ---------------------------------------------------------------------------

// An in-memory L2. publish_invalidation calls every subscriber's
// on_invalidation synchronously, like a pub/sub message arriving at once.
class FakeRemote final : public RemoteCache {
 public:
  struct Stored {
    std::string value;
    seconds ttl;
  };

  asio::awaitable<std::optional<std::string>> get(std::string_view key) override {
    ++gets;
    throw_if_down();
    const std::lock_guard lock(mu_);
    const auto it = store_.find(std::string(key));
    if (it == store_.end()) {
      co_return std::nullopt;
    }
    co_return it->second.value;
  }
  asio::awaitable<void> set(std::string_view key, std::string_view value, seconds ttl) override {
    ++sets;
    throw_if_down();
    const std::lock_guard lock(mu_);
    store_[std::string(key)] = Stored{std::string(value), ttl};
    co_return;
  }
  asio::awaitable<void> del(std::string_view key) override {
    ++dels;
    throw_if_down();
    const std::lock_guard lock(mu_);
    store_.erase(std::string(key));
    co_return;
  }
  asio::awaitable<void> publish_invalidation(std::string_view key) override {
    ++publishes;
    throw_if_down();
    for (TwoLevelCache* c : subscribers) {
      c->on_invalidation(key);
    }
    co_return;
  }

  std::optional<Stored> stored(const std::string& key) {
    const std::lock_guard lock(mu_);
    const auto it = store_.find(key);
    return it == store_.end() ? std::nullopt : std::optional<Stored>(it->second);
  }
  void put(const std::string& key, std::string value) {
    const std::lock_guard lock(mu_);
    store_[key] = Stored{std::move(value), seconds(60)};
  }

  std::atomic<bool> down{false};
  std::atomic<int> gets{0};
  std::atomic<int> sets{0};
  std::atomic<int> dels{0};
  std::atomic<int> publishes{0};
  std::vector<TwoLevelCache*> subscribers;

 private:
  void throw_if_down() const {
    if (down) {
      throw std::runtime_error("redis: connection refused");
    }
  }
  std::mutex mu_;
  std::map<std::string, Stored> store_;
};

// The database behind the loaders. A row may be held by a gate so that a test
// can act while a load is in flight.
struct FakeDb {
  std::map<std::string, std::string> rows;
  int loads = 0;
  std::unique_ptr<asio::steady_timer> gate;  // set: loads wait for it
  bool fail = false;
};

// The loader body: a named coroutine with parameters by value. The query
// reads its snapshot first; the gate then delays the answer, which is the
// window in which a write can commit and invalidate.
asio::awaitable<std::optional<std::string>> load_row(FakeDb* db, std::string key) {
  ++db->loads;
  std::optional<std::string> row;
  if (const auto it = db->rows.find(key); it != db->rows.end()) {
    row = it->second;
  }
  if (db->gate) {
    boost::system::error_code ec;
    co_await db->gate->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (db->fail) {
    throw std::runtime_error("pg: timeout");
  }
  co_return row;
}

TwoLevelCache::Loader loader_for(FakeDb& db, std::string key) {
  return [&db, key = std::move(key)] { return load_row(&db, key); };
}

class FakeClock {
 public:
  TimePoint now() const { return t_; }
  void advance(Duration d) { t_ += d; }

 private:
  TimePoint t_ = TimePoint(seconds(1000));
};

asio::awaitable<void> get_into(TwoLevelCache* cache, std::string key, TwoLevelCache::Loader loader,
                               std::optional<Value>* out) {
  *out = co_await cache->get(std::move(key), std::move(loader));
}

struct TwoLevelTest : ::testing::Test {
  asio::io_context ctx{1};
  FakeClock clock;
  FakeRemote remote;
  FakeDb db;
  // Two "processes": two caches with their own L1 and registry, one Redis.
  metrics::Registry registry_a;
  metrics::Registry registry_b;
  std::unique_ptr<TwoLevelCache> a;
  std::unique_ptr<TwoLevelCache> b;

  void SetUp() override {
    a = std::make_unique<TwoLevelCache>(registry_a, "users", options(), &remote);
    b = std::make_unique<TwoLevelCache>(registry_b, "users", options(), &remote);
    remote.subscribers = {a.get(), b.get()};
  }

  TwoLevelOptions options() {
    TwoLevelOptions o;
    o.l1.shards = 1;
    o.l1.ttl = seconds(1);
    o.l1.negative_ttl = milliseconds(200);
    o.l1.now = [this] { return clock.now(); };
    o.l1.uniform = [] { return 0.5; };  // no jitter: exact expiries
    o.l2_ttl = seconds(60);
    o.l2_negative_ttl = seconds(5);
    return o;
  }

  // Runs one coroutine to completion on ctx (other coroutines suspended on a
  // gate stay suspended). Fails instead of hanging if it cannot complete.
  template <class T>
  T run(asio::awaitable<T> aw) {
    auto future = asio::co_spawn(ctx, std::move(aw), asio::use_future);
    ctx.restart();
    while (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      if (ctx.poll() == 0 &&
          future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        ADD_FAILURE() << "coroutine blocked";
        break;
      }
    }
    return future.get();
  }

  Value get(TwoLevelCache& c, const std::string& key) {
    return run(c.get(key, loader_for(db, key)));
  }

  std::uint64_t counter(metrics::Registry& r, std::string_view name, std::string_view tier = {}) {
    metrics::Labels l{{"cache", "users"}};
    if (!tier.empty()) {
      l.emplace_back("tier", std::string(tier));
    }
    return r.counter(name, "", l).value();
  }

  void settle() {
    ctx.restart();
    while (ctx.poll() != 0) {
    }
  }
};

TEST_F(TwoLevelTest, LoaderFillsL2ThenL1) {
  db.rows["u:1"] = "alice";
  EXPECT_EQ(*get(*a, "u:1"), "alice");
  EXPECT_EQ(db.loads, 1);
  const auto stored = remote.stored("u:1");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->value, "alice");
  EXPECT_EQ(stored->ttl, seconds(60));
  EXPECT_TRUE(a->l1()->get("u:1").hit());

  EXPECT_EQ(*get(*a, "u:1"), "alice");  // L1 hit: no L2, no load
  EXPECT_EQ(db.loads, 1);
  EXPECT_EQ(remote.gets, 1);
  EXPECT_EQ(counter(registry_a, "surge_cache_loads_total"), 1U);
  EXPECT_EQ(counter(registry_a, "surge_cache_misses_total", "l2"), 1U);
  EXPECT_EQ(counter(registry_a, "surge_cache_hits_total", "l1"), 2U);  // one above + one here
}

TEST_F(TwoLevelTest, L2HitFillsL1WithoutLoading) {
  remote.put("u:1", "from-redis");
  EXPECT_EQ(*get(*a, "u:1"), "from-redis");
  EXPECT_EQ(db.loads, 0);
  EXPECT_EQ(counter(registry_a, "surge_cache_hits_total", "l2"), 1U);
  EXPECT_EQ(*a->l1()->get("u:1").value, "from-redis");

  // L1 expires after its short TTL; L2 still answers.
  clock.advance(seconds(1));
  EXPECT_FALSE(a->l1()->get("u:1").hit());
  EXPECT_EQ(*get(*a, "u:1"), "from-redis");
  EXPECT_EQ(remote.gets, 2);
  EXPECT_EQ(db.loads, 0);
}

TEST_F(TwoLevelTest, AbsentKeysAreCachedNegativelyInBothTiers) {
  EXPECT_EQ(get(*a, "u:404"), nullptr);
  EXPECT_EQ(db.loads, 1);
  const auto stored = remote.stored("u:404");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->value, kL2AbsentMarker);
  EXPECT_EQ(stored->ttl, seconds(5));
  EXPECT_EQ(a->l1()->get("u:404").found, Found::kAbsent);

  // A storm of lookups for the missing row: no more database loads.
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(get(*a, "u:404"), nullptr);
  }
  EXPECT_EQ(db.loads, 1);
  // After the short L1 negative TTL, L2's marker still answers "absent".
  clock.advance(milliseconds(200));
  EXPECT_EQ(get(*a, "u:404"), nullptr);
  EXPECT_EQ(get(*b, "u:404"), nullptr);
  EXPECT_EQ(db.loads, 1);
}

TEST_F(TwoLevelTest, InvalidateDropsL1InEveryProcess) {
  db.rows["u:1"] = "v1";
  EXPECT_EQ(*get(*a, "u:1"), "v1");
  EXPECT_EQ(*get(*b, "u:1"), "v1");  // from L2
  ASSERT_TRUE(a->l1()->get("u:1").hit());
  ASSERT_TRUE(b->l1()->get("u:1").hit());

  db.rows["u:1"] = "v2";                   // the write commits on the primary…
  EXPECT_TRUE(run(a->invalidate("u:1")));  // …then invalidates
  EXPECT_EQ(remote.dels, 1);
  EXPECT_EQ(remote.publishes, 1);
  EXPECT_FALSE(remote.stored("u:1"));
  EXPECT_FALSE(a->l1()->get("u:1").hit());
  EXPECT_FALSE(b->l1()->get("u:1").hit());

  EXPECT_EQ(*get(*b, "u:1"), "v2");
  EXPECT_EQ(*get(*a, "u:1"), "v2");
  EXPECT_EQ(db.loads, 2);
}

// A load that started before an invalidation must not install its result
// after it: neither in L1 nor in L2.
TEST_F(TwoLevelTest, StaleLoadDoesNotFillAfterAnInvalidation) {
  db.rows["u:1"] = "old";
  db.gate = std::make_unique<asio::steady_timer>(ctx, asio::steady_timer::time_point::max());
  std::optional<Value> first;
  asio::co_spawn(ctx, get_into(a.get(), "u:1", loader_for(db, "u:1"), &first), asio::detached);
  settle();
  ASSERT_EQ(db.loads, 1);  // read "old", answer in flight

  // Another server commits a write and invalidates.
  db.rows["u:1"] = "new";
  EXPECT_TRUE(run(b->invalidate("u:1")));

  // A reader arriving after the invalidation starts its own load instead of
  // joining the stale one.
  std::optional<Value> second;
  asio::co_spawn(ctx, get_into(a.get(), "u:1", loader_for(db, "u:1"), &second), asio::detached);
  settle();
  EXPECT_EQ(db.loads, 2);

  db.gate->cancel();  // both answers arrive, in either order
  settle();
  db.gate.reset();

  ASSERT_TRUE(first && *first);
  ASSERT_TRUE(second && *second);
  EXPECT_EQ(**first, "old");   // the caller that started before the write
  EXPECT_EQ(**second, "new");  // read-your-writes for the one after
  EXPECT_EQ(*a->l1()->get("u:1").value, "new");
  EXPECT_EQ(remote.stored("u:1")->value, "new");
  EXPECT_EQ(*get(*b, "u:1"), "new");
}

// The minimal form of the race, without a second load: the stale result is
// returned to its caller but cached nowhere.
TEST_F(TwoLevelTest, StaleLoadIsReturnedButNotCached) {
  db.rows["u:1"] = "old";
  db.gate = std::make_unique<asio::steady_timer>(ctx, asio::steady_timer::time_point::max());
  std::optional<Value> first;
  asio::co_spawn(ctx, get_into(a.get(), "u:1", loader_for(db, "u:1"), &first), asio::detached);
  settle();
  a->on_invalidation("u:1");  // a publication from another server arrives
  db.gate->cancel();
  settle();
  ASSERT_TRUE(first && *first);
  EXPECT_EQ(**first, "old");
  EXPECT_FALSE(a->l1()->get("u:1").hit());
  EXPECT_FALSE(remote.stored("u:1"));  // the L2 write was skipped too
}

TEST_F(TwoLevelTest, ConcurrentMissesShareOneLoad) {
  db.rows["u:1"] = "v";
  db.gate = std::make_unique<asio::steady_timer>(ctx, asio::steady_timer::time_point::max());
  std::vector<std::optional<Value>> out(20);
  for (auto& o : out) {
    asio::co_spawn(ctx, get_into(a.get(), "u:1", loader_for(db, "u:1"), &o), asio::detached);
  }
  settle();
  db.gate->cancel();
  settle();
  for (const auto& o : out) {
    ASSERT_TRUE(o && *o);
    EXPECT_EQ(**o, "v");
  }
  EXPECT_EQ(db.loads, 1);
  EXPECT_EQ(remote.gets, 1);  // the L2 lookup is shared too
  EXPECT_EQ(counter(registry_a, "surge_cache_loads_shared_total"), 19U);
}

TEST_F(TwoLevelTest, L2ErrorsDegradeToTheLoader) {
  db.rows["u:1"] = "v";
  remote.down = true;
  EXPECT_EQ(*get(*a, "u:1"), "v");  // no exception
  EXPECT_EQ(db.loads, 1);
  EXPECT_EQ(counter(registry_a, "surge_cache_errors_total", "l2"), 2U);  // get + set
  EXPECT_EQ(counter(registry_a, "surge_cache_misses_total", "l2"), 0U);
  EXPECT_TRUE(a->l1()->get("u:1").hit());  // L1 still serves

  // Invalidation with L2 down: L1 dropped, failure reported, not thrown.
  EXPECT_FALSE(run(a->invalidate("u:1")));
  EXPECT_FALSE(a->l1()->get("u:1").hit());
  EXPECT_EQ(counter(registry_a, "surge_cache_errors_total", "l2"), 4U);
}

TEST_F(TwoLevelTest, LoaderErrorsPropagateAndAreNotCached) {
  db.rows["u:1"] = "v";
  db.fail = true;
  EXPECT_THROW(get(*a, "u:1"), std::runtime_error);
  EXPECT_FALSE(a->l1()->get("u:1").hit());
  EXPECT_FALSE(remote.stored("u:1"));
  db.fail = false;
  EXPECT_EQ(*get(*a, "u:1"), "v");
  EXPECT_EQ(db.loads, 2);
}

TEST_F(TwoLevelTest, L1CanBeDisabled) {
  metrics::Registry registry;
  TwoLevelOptions o = options();
  o.l1_enabled = false;
  TwoLevelCache c(registry, "users", o, &remote);
  EXPECT_EQ(c.l1(), nullptr);
  db.rows["u:1"] = "v";
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(*get(c, "u:1"), "v");
  }
  EXPECT_EQ(db.loads, 1);
  EXPECT_EQ(remote.gets, 3);  // every get is an L2 round trip
  c.on_invalidation("u:1");   // harmless without L1
}

TEST_F(TwoLevelTest, L2CanBeDisabled) {
  metrics::Registry registry;
  TwoLevelOptions o = options();
  o.l2_enabled = false;
  TwoLevelCache c(registry, "users", o, &remote);
  EXPECT_FALSE(c.l2_enabled());
  db.rows["u:1"] = "v";
  EXPECT_EQ(*get(c, "u:1"), "v");
  EXPECT_EQ(*get(c, "u:1"), "v");
  EXPECT_EQ(db.loads, 1);
  EXPECT_EQ(remote.gets + remote.sets, 0);
  EXPECT_TRUE(run(c.invalidate("u:1")));
  EXPECT_EQ(remote.dels + remote.publishes, 0);
}

TEST_F(TwoLevelTest, L2TtlIsJittered) {
  metrics::Registry registry;
  TwoLevelOptions o = options();
  o.l1.uniform = [] { return 0.0; };  // the low end: 60 s × 0.8
  TwoLevelCache c(registry, "users", o, &remote);
  db.rows["u:1"] = "v";
  get(c, "u:1");
  EXPECT_EQ(remote.stored("u:1")->ttl, seconds(48));
  get(c, "u:404");
  EXPECT_EQ(remote.stored("u:404")->ttl, seconds(4));
}

}  // namespace
}  // namespace surge::cache
