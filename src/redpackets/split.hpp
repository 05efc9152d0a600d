#pragma once

// Splitting a red packet's total into `count` random amounts, done once at
// creation (the amounts are stored, then popped by grabs in order).
//
// Algorithm: double average ("二倍均值"). With r cents left for n packets,
// the next packet is uniform on [1, max] where
//   max = min(floor(2 r / n) - 1, r - (n - 1))   (at least 1)
// and the last packet takes what is left. Each draw's mean is about r / n,
// so every packet's expected amount is total / count whatever its position,
// and no draw exceeds twice the running average: no single packet takes
// (almost) everything, unlike a uniform cut of the whole total. Every
// packet keeps at least 1 cent (the bound r - (n - 1) leaves 1 cent for each
// packet still to draw) and the sum is exact by construction.
//
// The draws are then shuffled (Fisher-Yates): the last packet of the
// sequence has the widest spread (it takes the remainder), and the shuffle
// makes the order of grabbing irrelevant to a user's expected amount and
// spread.
//
// Requires 1 <= count <= total (std::invalid_argument otherwise).
// Thread safety: pure function of its arguments; the generator is the
// caller's.

#include <cstdint>
#include <random>
#include <vector>

namespace surge::redpackets {

std::vector<std::int64_t> split(std::int64_t total_cents, std::int64_t count, std::mt19937_64& rng);

}  // namespace surge::redpackets
