#pragma once

// The campaign queues: Redis Streams, one stream per shard per kind.
//
//   shard k ─ rp:stream        grabs accepted by the grab script of every red
//           │                  packet placed on shard k
//           ├─ rp:stream:dead  entries that could not be persisted
//           ├─ fs:stream       flash-sale reservations of the sales on shard k
//           └─ fs:stream:dead
//
// Why one stream per shard and kind, not one per campaign: the worker then
// knows every stream without discovery (2 × shards, from configuration),
// a consumer's XREADGROUP serves every campaign of its shard at once, and
// an idle campaign costs nothing. The campaign's own keys carry its hash tag
// (rp:{42}:meta); the stream key does not, which is fine for the standalone
// shards Surge uses (client-side placement, no Redis Cluster): a script may
// touch any key of its server.
//
// Entries (field value ...):
//   rp:stream  rp <redpacket id> user <user id> amount <cents> at <unix ms>
//   fs:stream  fs <sale id> user <id> qty <units> ref <order_ref>
//              price <cents> product <product id> at <unix ms>
// Consumer group: "persist" (created by the worker at start, MKSTREAM, from 0).
//
// Thread safety: plain functions and constants.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "redis/reply.hpp"

namespace surge::campaigns {

inline constexpr std::string_view kRedpacketStream = "rp:stream";
inline constexpr std::string_view kFlashsaleStream = "fs:stream";
inline constexpr std::string_view kGroup = "persist";

// "<stream>:dead".
std::string dead_letter_stream(std::string_view stream);

struct Entry {
  std::string id;  // "1700000000000-0"
  std::vector<std::pair<std::string, std::string>> fields;

  // nullopt when absent.
  std::optional<std::string_view> get(std::string_view name) const;
  // nullopt when absent or not a decimal integer (optionally negative).
  std::optional<std::int64_t> get_int(std::string_view name) const;
};

// Parses a list of stream entries [[id, [f, v, ...]], ...] as returned by
// XRANGE, XCLAIM, XAUTOCLAIM's second element. Nil entries (deleted) are
// skipped. Throws redis::ProtocolError on another shape.
std::vector<Entry> parse_entries(const redis::Reply& list);

// XREADGROUP's reply: nil, or [[stream, entries]] → the entries.
std::vector<Entry> parse_read(const redis::Reply& reply);

// "1700000000000-3" → 1700000000000; nullopt if malformed.
std::optional<std::int64_t> id_ms(std::string_view id);

std::optional<std::int64_t> parse_int(std::string_view text);

}  // namespace surge::campaigns
