#include <cmath>
#include <cstddef>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "metrics/registry.hpp"

namespace surge::metrics {
namespace {

// The process-wide registry: the hot case the per-thread cache is built for.
void BM_CounterAdd(benchmark::State& state) {
  static const Counter c = Registry::global().counter("bench_counter_total", "Benchmark counter.");
  for (auto _ : state) {
    c.add();
  }
  benchmark::DoNotOptimize(c);
}
BENCHMARK(BM_CounterAdd);
BENCHMARK(BM_CounterAdd)->Threads(2);

// A registry that is not the thread's most recent one pays the cache walk.
void BM_CounterAddAlternating(benchmark::State& state) {
  static Registry a;
  static Registry b;
  static const Counter ca = a.counter("alt_a_total", "");
  static const Counter cb = b.counter("alt_b_total", "");
  for (auto _ : state) {
    ca.add();
    cb.add();
  }
  state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_CounterAddAlternating);

void BM_HistogramObserve(benchmark::State& state) {
  static const Histogram h =
      Registry::global().histogram("bench_latency_seconds", "Benchmark latencies.");
  // Log-uniform values from 10 us to 30 s, more than a branch predictor can
  // learn: a search that branches on the bounds would mispredict as in prod.
  constexpr std::size_t kValues = 1U << 16;
  std::vector<double> values(kValues);
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> exponent(std::log(1e-5), std::log(30.0));
  for (double& v : values) {
    v = std::exp(exponent(rng));
  }
  std::size_t i = 0;
  for (auto _ : state) {
    h.observe(values[i++ & (kValues - 1)]);
  }
}
BENCHMARK(BM_HistogramObserve);
BENCHMARK(BM_HistogramObserve)->Threads(2);

void BM_Render500Series(benchmark::State& state) {
  Registry registry;
  // 400 counters, 50 gauges, 50 histograms (each 19 samples).
  for (int i = 0; i < 400; ++i) {
    registry.counter("http_requests_total", "Requests.", {{"route", fmt::format("/r{}", i)}})
        .add(static_cast<std::uint64_t>(i));
  }
  for (int i = 0; i < 50; ++i) {
    registry.gauge("pool_in_use", "In use.", {{"pool", fmt::format("{}", i)}}).set(i);
  }
  for (int i = 0; i < 50; ++i) {
    registry.histogram("db_query_seconds", "Query latency.", {{"query", fmt::format("q{}", i)}})
        .observe(0.001 * i);
  }
  std::size_t bytes = 0;
  for (auto _ : state) {
    const std::string text = registry.render();
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_Render500Series);

}  // namespace
}  // namespace surge::metrics
