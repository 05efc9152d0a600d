// Shard selection cost: XXH3 of the id's decimal text + jump consistent hash.
// It runs on every cache and campaign call, so it must stay in the
// nanoseconds.

#include <cstdint>

#include <benchmark/benchmark.h>

#include "redis/hash.hpp"

namespace {

void BM_ShardOfNumericId(benchmark::State& state) {
  const auto shards = static_cast<std::size_t>(state.range(0));
  std::uint64_t id = 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(surge::redis::shard_of(id, shards));
    id = id * 6364136223846793005ULL + 1442695040888963407ULL;
  }
}
BENCHMARK(BM_ShardOfNumericId)->Arg(2)->Arg(16)->Arg(1024);

void BM_ShardOfStringId(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(surge::redis::shard_of("1234567", 2));
  }
}
BENCHMARK(BM_ShardOfStringId);

}  // namespace
