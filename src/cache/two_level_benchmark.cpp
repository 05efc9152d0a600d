// TwoLevelCache micro-benchmarks: the per-op cost of get() as a module calls
// it, from inside a coroutine on an io_context: an L1 hit, and the L2 path
// (L1 disabled) against an in-memory RemoteCache that answers at once, i.e.
// everything but the Redis round trip. A baseline shows what the coroutine
// call alone costs.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include "cache/two_level.hpp"
#include "metrics/registry.hpp"

namespace surge::cache {
namespace {

namespace asio = boost::asio;

// An L2 that always hits, with no I/O: isolates the cache's own overhead.
class InstantRemote final : public RemoteCache {
 public:
  asio::awaitable<std::optional<std::string>> get(std::string_view) override {
    co_return std::string(512, 'x');
  }
  asio::awaitable<void> set(std::string_view, std::string_view, std::chrono::seconds) override {
    co_return;
  }
  asio::awaitable<void> del(std::string_view) override { co_return; }
  asio::awaitable<void> publish_invalidation(std::string_view) override { co_return; }
};

struct Repo {
  std::int64_t rows = 0;
};

asio::awaitable<std::optional<std::string>> load_profile(Repo* repo, std::int64_t id) {
  ++repo->rows;
  co_return fmt::format("{{\"id\":{}}}", id);
}

// Shaped like a module's call: a key built per request, a loader capturing
// the repository and the id (16 bytes: std::function keeps it inline).
asio::awaitable<void> get_loop(TwoLevelCache* cache, Repo* repo, benchmark::State* state,
                               std::int64_t id) {
  const std::string key = fmt::format("user:{}", id);
  for (auto _ : *state) {
    // A named loader: see TwoLevelCache::get on GCC 12 and lambdas in co_await.
    TwoLevelCache::Loader loader = [repo, id] { return load_profile(repo, id); };
    Value v = co_await cache->get(key, std::move(loader));
    benchmark::DoNotOptimize(v);
  }
}

asio::awaitable<Value> trivial(Value v) {
  co_return v;
}

// The floor: co_await of a coroutine that returns a shared_ptr at once.
asio::awaitable<void> baseline_loop(benchmark::State* state) {
  const Value value = std::make_shared<const std::string>("x");
  for (auto _ : *state) {
    Value v = co_await trivial(value);
    benchmark::DoNotOptimize(v);
  }
}

TwoLevelCache& l1_cache() {
  static metrics::Registry registry;
  static InstantRemote remote;
  static TwoLevelCache cache = [] {
    TwoLevelOptions o;
    o.l1.ttl = std::chrono::hours(1);
    return TwoLevelCache(registry, "bench_l1", o, &remote);
  }();
  return cache;
}

void run_loop(benchmark::State& state, TwoLevelCache& cache, std::int64_t id) {
  asio::io_context ctx(1);
  Repo repo;
  asio::co_spawn(ctx, get_loop(&cache, &repo, &state, id), asio::detached);
  ctx.run();
  state.counters["loads"] = static_cast<double>(repo.rows);
}

void BM_TwoLevelGetL1Hit(benchmark::State& state) {
  // Each thread its own io_context (one per I/O thread, as in the server)
  // and its own key: threads meet only in the shared L1 (different shards).
  run_loop(state, l1_cache(), 1000 + state.thread_index());
}
BENCHMARK(BM_TwoLevelGetL1Hit);
BENCHMARK(BM_TwoLevelGetL1Hit)->Threads(2)->UseRealTime();

void BM_TwoLevelGetL2Hit(benchmark::State& state) {
  metrics::Registry registry;
  InstantRemote remote;
  TwoLevelOptions o;
  o.l1_enabled = false;
  TwoLevelCache cache(registry, "bench_l2", o, &remote);
  run_loop(state, cache, 7);
}
BENCHMARK(BM_TwoLevelGetL2Hit);

void BM_CoroutineBaseline(benchmark::State& state) {
  asio::io_context ctx(1);
  asio::co_spawn(ctx, baseline_loop(&state), asio::detached);
  ctx.run();
}
BENCHMARK(BM_CoroutineBaseline);

}  // namespace
}  // namespace surge::cache
