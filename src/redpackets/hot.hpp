#pragma once

// The Redis side of a red packet: preload at creation, the grab script,
// counters for GET and the summary. All keys of red packet 42 live on
// shards.shard_for(42) and carry its hash tag:
//
//   rp:{42}:meta     hash  starts_ms ends_ms count total_cents
//                          granted_count granted_cents (HINCRBY by grabs)
//   rp:{42}:amounts  list  the pre-split amounts not yet granted (LPOP)
//   rp:{42}:grabs    hash  user id → amount granted
//   rp:stream        the shard's grab stream (campaigns/stream.hpp)
//
// The grab is ONE Lua script (atomic on the shard, so nothing interleaves):
//   1. no meta                 → unknown (404)
//   2. user already in grabs   → that amount, already_grabbed (also after
//                                the end: a repeat is always answered alike)
//   3. shard TIME < starts_ms  → not_started (403); >= ends_ms → ended (410)
//   4. LPOP amounts; none      → sold_out (410)
//   5. HSET grabs, HINCRBY the counters, XADD rp:stream
// The clock is the shard's (TIME), so every app server decides alike.
// Retention: preload gives meta and amounts an expiry (Meta::expires_ms,
// campaigns.hot_retention_s after the end) and the first grab gives grabs
// the same one, so a campaign's keys leave the shard together; from then
// on the grab answers unknown and the caller asks the database.
// Nothing is written unless the grab is granted, and the grant, the user's
// record and the stream entry are one script: with AOF appendfsync always,
// an answered grab is on disk before the reply leaves Redis (README.md).
//
// Errors: redis::Error from Shards (unavailable() → 503 at the HTTP edge:
// campaigns::shard_unavailable, registered on the dispatcher).
// Thread safety: the functions are coroutines run on a Shards I/O thread.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "redis/shards.hpp"

namespace surge::redpackets {

std::string meta_key(std::uint64_t id);
std::string amounts_key(std::uint64_t id);
std::string grabs_key(std::uint64_t id);

struct Meta {
  std::int64_t starts_ms = 0;
  std::int64_t ends_ms = 0;
  std::int64_t count = 0;
  std::int64_t total_cents = 0;
  std::int64_t expires_ms = 0;  // the keys' expiry (Unix ms); 0 = never
};

// Writes meta and amounts in one MULTI/EXEC (meta last: its presence means
// loaded), with their expiry. Replaces any previous keys of this id.
boost::asio::awaitable<void> preload(redis::Shards& shards, std::uint64_t id, Meta meta,
                                     std::vector<std::int64_t> amounts);

struct Grab {
  enum class Outcome : unsigned char {
    kGranted,
    kAlreadyGrabbed,
    kUnknown,
    kNotStarted,
    kEnded,
    kSoldOut
  };
  Outcome outcome = Outcome::kUnknown;
  std::int64_t amount_cents = 0;
};
boost::asio::awaitable<Grab> grab(redis::Shards& shards, std::uint64_t id, std::uint64_t user_id);

struct Counts {
  std::int64_t remaining = 0;
  std::int64_t granted_count = 0;
  std::int64_t granted_cents = 0;
};
// nullopt: not loaded on the shard.
boost::asio::awaitable<std::optional<Counts>> counts(redis::Shards& shards, std::uint64_t id);

}  // namespace surge::redpackets
