#include "redis/hash.hpp"

#include <array>
#include <charconv>
#include <xxhash.h>

namespace surge::redis {

std::uint32_t jump_consistent_hash(std::uint64_t key, std::uint32_t buckets) noexcept {
  // The reference implementation from the paper: a linear congruential
  // generator decides, at each step, how far the key jumps forward.
  std::int64_t b = -1;
  std::int64_t j = 0;
  while (j < static_cast<std::int64_t>(buckets)) {
    b = j;
    key = key * 2862933555777941757ULL + 1;
    j = static_cast<std::int64_t>(
        static_cast<double>(b + 1) *
        (static_cast<double>(1LL << 31) / static_cast<double>((key >> 33) + 1)));
  }
  return b < 0 ? 0 : static_cast<std::uint32_t>(b);
}

std::uint64_t hash_id(std::string_view id) noexcept {
  return XXH3_64bits(id.data(), id.size());
}

std::size_t shard_of(std::string_view id, std::size_t shards) noexcept {
  return jump_consistent_hash(hash_id(id), static_cast<std::uint32_t>(shards));
}

std::size_t shard_of(std::uint64_t id, std::size_t shards) noexcept {
  std::array<char, 24> text{};
  const auto result = std::to_chars(text.data(), text.data() + text.size(), id);
  return shard_of(std::string_view(text.data(), static_cast<std::size_t>(result.ptr - text.data())),
                  shards);
}

}  // namespace surge::redis
