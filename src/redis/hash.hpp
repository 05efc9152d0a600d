#pragma once

// Key → shard placement.
//
// shard_of(id, n) = jump_consistent_hash(XXH3_64bits(id), n)
//
// Why jump consistent hash (Lamping & Veach, "A Fast, Minimal Memory,
// Consistent Hash Algorithm", 2014) rather than a ring of virtual nodes:
//  * no memory: nothing to build or keep in sync between servers, the
//    placement is a pure function of (id, shard count);
//  * perfect balance: every shard gets 1/n of the ids in expectation, where a
//    ring needs hundreds of virtual nodes per shard to get within a few
//    percent;
//  * minimal movement: going from n to n+1 shards moves ≈ 1/(n+1) of the ids,
//    and every id that moves goes to the new shard n (none move between old
//    shards);
//  * fast: O(ln n) iterations of a multiply and a divide.
// Its limit: shards are numbered, so only the last one can be removed without
// extra moves. That fits how we grow (append a shard to the configured list)
// and a dead shard is handled by the breaker, not by re-placing its keys.
//
// XXH3_64bits is stable across runs, processes and versions of xxHash (its
// output is specified), so placements are stable too; shards_test pins golden
// values. Numeric ids hash as their decimal text: shard_of(42, n) ==
// shard_of("42", n), so modules that hold an id as a number or as a string
// agree on its shard.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace surge::redis {

// The bucket in [0, buckets) of `key`. buckets must be >= 1 (0 gives 0).
std::uint32_t jump_consistent_hash(std::uint64_t key, std::uint32_t buckets) noexcept;

// 64-bit XXH3 of the bytes of `id`.
std::uint64_t hash_id(std::string_view id) noexcept;

// The shard in [0, shards) of an id. shards must be >= 1.
std::size_t shard_of(std::string_view id, std::size_t shards) noexcept;
std::size_t shard_of(std::uint64_t id, std::size_t shards) noexcept;

}  // namespace surge::redis
