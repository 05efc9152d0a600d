#include "redpackets/split.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include <gtest/gtest.h>

namespace surge::redpackets {
namespace {

std::int64_t sum(const std::vector<std::int64_t>& v) {
  return std::accumulate(v.begin(), v.end(), std::int64_t{0});
}

TEST(Split, SumIsExactAndEachAtLeastOneCent) {
  std::mt19937_64 rng(42);
  for (const auto& [total, count] :
       std::vector<std::pair<std::int64_t, std::int64_t>>{{1, 1},
                                                          {2, 2},
                                                          {3, 2},
                                                          {100, 100},
                                                          {101, 100},
                                                          {100000, 500},
                                                          {50000, 1500},
                                                          {7, 3},
                                                          {1'000'000'000, 1000},
                                                          {1000, 999}}) {
    for (int round = 0; round < 50; ++round) {
      const auto amounts = split(total, count, rng);
      ASSERT_EQ(static_cast<std::int64_t>(amounts.size()), count);
      ASSERT_EQ(sum(amounts), total);
      ASSERT_GE(*std::min_element(amounts.begin(), amounts.end()), 1);
    }
  }
}

TEST(Split, RejectsImpossibleSplits) {
  std::mt19937_64 rng(1);
  EXPECT_THROW(split(10, 0, rng), std::invalid_argument);
  EXPECT_THROW(split(9, 10, rng), std::invalid_argument);
  EXPECT_THROW(split(-5, 1, rng), std::invalid_argument);
}

// Fairness: every position's mean is the average, and no packet is larger
// than the total minus 1 cent per other packet.
TEST(Split, EveryPositionGetsTheAverageOnAverage) {
  std::mt19937_64 rng(7);
  constexpr std::int64_t kTotal = 10'000;
  constexpr std::int64_t kCount = 10;
  constexpr int kRounds = 20'000;
  std::vector<double> means(kCount, 0.0);
  std::int64_t largest = 0;
  for (int round = 0; round < kRounds; ++round) {
    const auto amounts = split(kTotal, kCount, rng);
    for (std::size_t i = 0; i < amounts.size(); ++i) {
      means[i] += static_cast<double>(amounts[i]) / kRounds;
    }
    largest = std::max(largest, *std::max_element(amounts.begin(), amounts.end()));
  }
  for (const double mean : means) {
    EXPECT_NEAR(mean, 1000.0, 25.0);  // 2.5%
  }
  EXPECT_LE(largest, kTotal - (kCount - 1));
}

// The draws before the last stay under twice the running average: with a
// large count no packet comes near the whole total.
TEST(Split, NoPacketTakesMuchMoreThanTwiceTheAverageOfManyPackets) {
  std::mt19937_64 rng(9);
  const auto amounts = split(1'000'000, 1000, rng);
  const std::int64_t largest = *std::max_element(amounts.begin(), amounts.end());
  EXPECT_LT(largest, 20'000);  // average 1000; only the remainder can exceed 2x
  EXPECT_GT(*std::min_element(amounts.begin(), amounts.end()), 0);
}

}  // namespace
}  // namespace surge::redpackets
