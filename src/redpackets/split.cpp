#include "redpackets/split.hpp"

#include <algorithm>
#include <stdexcept>

namespace surge::redpackets {

std::vector<std::int64_t> split(std::int64_t total_cents, std::int64_t count,
                                std::mt19937_64& rng) {
  if (count < 1 || total_cents < count) {
    throw std::invalid_argument("split: requires 1 <= count <= total_cents");
  }
  std::vector<std::int64_t> amounts;
  amounts.reserve(static_cast<std::size_t>(count));
  std::int64_t left = total_cents;
  for (std::int64_t n = count; n > 1; --n) {
    // Twice the running average (exclusive), leaving 1 cent for each of the
    // n - 1 packets still to draw.
    const std::int64_t twice_average = (2 * (left / n)) + ((2 * (left % n)) / n);
    const std::int64_t max = std::max<std::int64_t>(1, std::min(twice_average - 1, left - (n - 1)));
    std::uniform_int_distribution<std::int64_t> draw(1, max);
    const std::int64_t amount = draw(rng);
    amounts.push_back(amount);
    left -= amount;
  }
  amounts.push_back(left);
  std::shuffle(amounts.begin(), amounts.end(), rng);
  return amounts;
}

}  // namespace surge::redpackets
