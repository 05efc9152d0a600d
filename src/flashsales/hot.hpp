#pragma once

// The Redis side of a flash sale. Keys of sale 7 live on shards.shard_for(7):
//
//   fs:{7}:meta   hash  starts_ms ends_ms stock remaining reserved limit
//                       price_cents product_id
//   fs:{7}:users  hash  user id → units reserved by that user
//   fs:{7}:refs   hash  order_ref → user id (who may read the ref's status)
//   fs:{7}:idem   hash  "<user id>:<Idempotency-Key>" → order_ref
//   fs:{7}:failed hash  order_ref → units given back (release() below)
//   fs:stream     the shard's reservation stream (campaigns/stream.hpp)
//
// order(): ONE Lua script:
//   1. no meta                          → unknown (404)
//   2. Idempotency-Key already used     → that order_ref again (202)
//   3. shard TIME < starts_ms → not_started (403); >= ends_ms → ended (410)
//   4. remaining < quantity             → sold_out (410)
//   5. user's units + quantity > limit  → limit_exceeded (409)
//   6. reserve: remaining -= q, reserved += q, users[user] += q, refs,
//      idem, XADD fs:stream — all or nothing.
// Units reserved never exceed stock (remaining never goes below 0) and no
// user's units exceed the limit: both are decided inside the script.
//
// release(): ONE script, for a reservation the worker gave up on (it could
// never become an order): records the ref in fs:{7}:failed and, the first
// time only, gives its units back — remaining += q, reserved -= q,
// users[user] -= q — so the units can be sold again and the buyer may try
// again. Idempotent: a second release of the same ref changes nothing.
//
// Retention: preload gives meta an expiry (Meta::expires_ms,
// campaigns.hot_retention_s after the end); the scripts give every other
// key of the sale the same one when they create it, so the sale leaves the
// shard whole and order() then answers unknown (the caller asks the
// database). release() on a sale already gone records the ref as failed
// for a day and gives nothing back (there is nothing left to sell).
//
// Order refs: "<sale id>-<32 hex digits>" (random, made by the caller), so
// a ref names its sale's shard.

#include <cstdint>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "redis/shards.hpp"

namespace surge::flashsales {

std::string meta_key(std::uint64_t id);
std::string users_key(std::uint64_t id);
std::string refs_key(std::uint64_t id);
std::string idem_key(std::uint64_t id);
std::string failed_key(std::uint64_t id);

struct Meta {
  std::int64_t starts_ms = 0;
  std::int64_t ends_ms = 0;
  std::int64_t stock = 0;
  std::int64_t per_user_limit = 1;
  std::int64_t price_cents = 0;
  std::int64_t product_id = 0;
  std::int64_t expires_ms = 0;  // the keys' expiry (Unix ms); 0 = never
};

boost::asio::awaitable<void> preload(redis::Shards& shards, std::uint64_t id, Meta meta);

struct Reservation {
  enum class Outcome : unsigned char {
    kReserved,
    kRepeated,
    kUnknown,
    kNotStarted,
    kEnded,
    kSoldOut,
    kLimitExceeded,
    kKeyReused,         // the idempotency key came with another quantity
    kInsufficientStock  // units are left, fewer than the quantity
  };
  Outcome outcome = Outcome::kUnknown;
  std::string order_ref;  // kReserved, kRepeated, kKeyReused (the first order's)
  std::int64_t left = 0;  // kInsufficientStock: the units left
};
// idempotency_key "" = none. new_ref is used only when a reservation is made.
boost::asio::awaitable<Reservation> order(redis::Shards& shards, std::uint64_t id,
                                          std::uint64_t user_id, std::int64_t quantity,
                                          std::string new_ref, std::string idempotency_key);

struct Counts {
  std::int64_t remaining = 0;
  std::int64_t reserved = 0;
};
boost::asio::awaitable<std::optional<Counts>> counts(redis::Shards& shards, std::uint64_t id);

// Gives a failed reservation's units back (see the top of this file).
// True when this call released them, false when an earlier one had.
boost::asio::awaitable<bool> release(redis::Shards& shards, std::uint64_t sale_id,
                                     std::uint64_t user_id, std::int64_t quantity,
                                     std::string order_ref);

// Whether release() was called for the ref.
boost::asio::awaitable<bool> ref_failed(redis::Shards& shards, std::uint64_t sale_id,
                                        std::string order_ref);

// The user id recorded for a ref (queued or not), nullopt if unknown.
boost::asio::awaitable<std::optional<std::uint64_t>> ref_owner(redis::Shards& shards,
                                                               std::uint64_t sale_id,
                                                               std::string order_ref);

// "<sale>-<32 hex>" and its parse.
std::string make_order_ref(std::uint64_t sale_id);
std::optional<std::uint64_t> sale_of_ref(std::string_view order_ref);

}  // namespace surge::flashsales
