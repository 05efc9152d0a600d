#include "flashsales/hot.hpp"

#include <random>

#include <fmt/format.h>

#include "campaigns/stream.hpp"

namespace surge::flashsales {

namespace {

// KEYS: meta, users, refs, idem, stream. ARGV: user, quantity, new ref,
// idempotency key ("" none), sale id.
// Returns {code, ref}: 0 reserved, 1 repeated (idempotency key, same
// quantity), 2 key reused with another quantity (ref of the first), -1
// unknown, -2 not started, -3 ended, -5 limit exceeded, -4 sold out, -6
// fewer units left than asked (the ref slot holds how many) — the per-user
// limit is checked first: it holds whatever the stock.
// The idem hash maps "<user>:<key>" to "<ref> <quantity>" (entries written
// before the quantity was kept hold the bare ref and match any quantity).
// The sale's hashes take its expiry when they are created, not through a
// PTTL of each on every reservation (the shard is a sale's ceiling): users
// and refs by the reservation that makes `reserved` equal its quantity
// (the first, or the first after releases emptied users), idem by the
// first reservation that carries a key.
const redis::Script kOrder(R"lua(
local m = redis.call('HMGET', KEYS[1], 'starts_ms', 'ends_ms', 'remaining', 'limit', 'price_cents', 'product_id')
if not m[1] then return {-1, ''} end
local qty = tonumber(ARGV[2])
local idem = nil
if ARGV[4] ~= '' then
  idem = ARGV[1] .. ':' .. ARGV[4]
  local prev = redis.call('HGET', KEYS[4], idem)
  if prev then
    local sp = string.find(prev, ' ', 1, true)
    if not sp then return {1, prev} end
    local ref = string.sub(prev, 1, sp - 1)
    if tonumber(string.sub(prev, sp + 1)) ~= qty then return {2, ref} end
    return {1, ref}
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now < tonumber(m[1]) then return {-2, ''} end
if now >= tonumber(m[2]) then return {-3, ''} end
local have = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if have + qty > tonumber(m[4]) then return {-5, ''} end
local left = tonumber(m[3])
if left < qty then
  if left <= 0 then return {-4, ''} end
  return {-6, m[3]}
end
redis.call('HINCRBY', KEYS[1], 'remaining', -qty)
local reserved = redis.call('HINCRBY', KEYS[1], 'reserved', qty)
redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])
if idem then redis.call('HSET', KEYS[4], idem, ARGV[3] .. ' ' .. qty) end
if reserved == qty or (idem and redis.call('PTTL', KEYS[4]) == -1) then
  local expires = redis.call('PEXPIRETIME', KEYS[1])
  if expires > 0 then
    for i = 2, 4 do
      if redis.call('PTTL', KEYS[i]) == -1 then redis.call('PEXPIREAT', KEYS[i], expires) end
    end
  end
end
redis.call('XADD', KEYS[5], '*', 'fs', ARGV[5], 'user', ARGV[1], 'qty', qty, 'ref', ARGV[3],
           'price', m[5], 'product', m[6], 'at', now)
return {0, ARGV[3]}
)lua");

// KEYS: meta, users, failed. ARGV: user, quantity, ref.
// Returns 1 when the units were given back now, 0 when already released.
const redis::Script kRelease(R"lua(
if redis.call('HSETNX', KEYS[3], ARGV[3], ARGV[2]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('PTTL', KEYS[3]) == -1 then redis.call('PEXPIRE', KEYS[3], 86400000) end
  return 1
end
local qty = tonumber(ARGV[2])
redis.call('HINCRBY', KEYS[1], 'remaining', qty)
redis.call('HINCRBY', KEYS[1], 'reserved', -qty)
if tonumber(redis.call('HINCRBY', KEYS[2], ARGV[1], -qty)) <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
end
local expires = redis.call('PEXPIRETIME', KEYS[1])
if expires > 0 and redis.call('PTTL', KEYS[3]) == -1 then
  redis.call('PEXPIREAT', KEYS[3], expires)
end
return 1
)lua");

}  // namespace

std::string meta_key(std::uint64_t id) {
  return fmt::format("fs:{{{}}}:meta", id);
}
std::string users_key(std::uint64_t id) {
  return fmt::format("fs:{{{}}}:users", id);
}
std::string refs_key(std::uint64_t id) {
  return fmt::format("fs:{{{}}}:refs", id);
}
std::string idem_key(std::uint64_t id) {
  return fmt::format("fs:{{{}}}:idem", id);
}
std::string failed_key(std::uint64_t id) {
  return fmt::format("fs:{{{}}}:failed", id);
}

boost::asio::awaitable<void> preload(redis::Shards& shards, std::uint64_t id, Meta meta) {
  const std::size_t shard = shards.shard_for(id);
  std::vector<redis::Command> commands;
  commands.emplace_back("MULTI");
  commands.emplace_back("DEL", meta_key(id), users_key(id), refs_key(id), idem_key(id),
                        failed_key(id));
  commands.emplace_back("HSET", meta_key(id), "starts_ms", meta.starts_ms, "ends_ms", meta.ends_ms,
                        "stock", meta.stock, "remaining", meta.stock, "reserved", 0, "limit",
                        meta.per_user_limit, "price_cents", meta.price_cents, "product_id",
                        meta.product_id);
  if (meta.expires_ms > 0) {
    commands.emplace_back("PEXPIREAT", meta_key(id), meta.expires_ms);
  }
  commands.emplace_back("EXEC");
  const std::vector<redis::Reply> replies = co_await shards.pipeline(shard, std::move(commands));
  const redis::Reply& exec = replies.back();
  if (exec.is_error() || exec.is_nil()) {
    throw redis::ServerError("EXECABORT", "flash sale preload aborted");
  }
  for (const redis::Reply& r : exec.as_array()) {
    r.throw_if_error();
  }
}

boost::asio::awaitable<Reservation> order(redis::Shards& shards, std::uint64_t id,
                                          std::uint64_t user_id, std::int64_t quantity,
                                          std::string new_ref, std::string idempotency_key) {
  const std::size_t shard = shards.shard_for(id);
  const std::string stream(campaigns::kFlashsaleStream);
  redis::Args keys(meta_key(id), users_key(id), refs_key(id), idem_key(id), stream);
  redis::Args args(user_id, quantity, new_ref, idempotency_key, id);
  const redis::Reply reply = co_await shards.eval(shard, kOrder, keys, args);
  const auto& a = reply.as_array();
  if (a.size() != 2) {
    throw redis::ProtocolError("order script: expected {code, ref}");
  }
  Reservation r;
  r.order_ref = a[1].as_string();
  switch (a[0].as_integer()) {
    case 0:
      r.outcome = Reservation::Outcome::kReserved;
      break;
    case 1:
      r.outcome = Reservation::Outcome::kRepeated;
      break;
    case 2:
      r.outcome = Reservation::Outcome::kKeyReused;
      break;
    case -2:
      r.outcome = Reservation::Outcome::kNotStarted;
      break;
    case -3:
      r.outcome = Reservation::Outcome::kEnded;
      break;
    case -4:
      r.outcome = Reservation::Outcome::kSoldOut;
      break;
    case -5:
      r.outcome = Reservation::Outcome::kLimitExceeded;
      break;
    case -6:
      r.outcome = Reservation::Outcome::kInsufficientStock;
      r.left = campaigns::parse_int(r.order_ref).value_or(0);
      r.order_ref.clear();
      break;
    default:
      r.outcome = Reservation::Outcome::kUnknown;
      break;
  }
  co_return r;
}

boost::asio::awaitable<std::optional<Counts>> counts(redis::Shards& shards, std::uint64_t id) {
  const std::size_t shard = shards.shard_for(id);
  const std::string key = meta_key(id);
  const redis::Reply reply =
      co_await shards.command(shard, {"HMGET", key, "remaining", "reserved"});
  const auto& a = reply.as_array();
  if (a.size() != 2 || a[0].is_nil()) {
    co_return std::nullopt;
  }
  Counts c;
  c.remaining = campaigns::parse_int(a[0].as_string()).value_or(0);
  c.reserved = campaigns::parse_int(a[1].as_string()).value_or(0);
  co_return c;
}

boost::asio::awaitable<bool> release(redis::Shards& shards, std::uint64_t sale_id,
                                     std::uint64_t user_id, std::int64_t quantity,
                                     std::string order_ref) {
  const std::size_t shard = shards.shard_for(sale_id);
  redis::Args keys(meta_key(sale_id), users_key(sale_id), failed_key(sale_id));
  redis::Args args(user_id, quantity, order_ref);
  const redis::Reply reply = co_await shards.eval(shard, kRelease, keys, args);
  co_return reply.as_integer() == 1;
}

boost::asio::awaitable<bool> ref_failed(redis::Shards& shards, std::uint64_t sale_id,
                                        std::string order_ref) {
  const std::size_t shard = shards.shard_for(sale_id);
  const std::string key = failed_key(sale_id);
  const redis::Reply reply = co_await shards.command(shard, {"HEXISTS", key, order_ref});
  co_return reply.as_integer() == 1;
}

boost::asio::awaitable<std::optional<std::uint64_t>> ref_owner(redis::Shards& shards,
                                                               std::uint64_t sale_id,
                                                               std::string order_ref) {
  const std::size_t shard = shards.shard_for(sale_id);
  const std::string key = refs_key(sale_id);
  const redis::Reply reply = co_await shards.command(shard, {"HGET", key, order_ref});
  const auto owner = reply.as_optional_string();
  if (!owner) {
    co_return std::nullopt;
  }
  const auto v = campaigns::parse_int(*owner);
  if (!v || *v <= 0) {
    co_return std::nullopt;
  }
  co_return static_cast<std::uint64_t>(*v);
}

std::string make_order_ref(std::uint64_t sale_id) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}-{:016x}{:016x}", sale_id, rng(), rng());
}

std::optional<std::uint64_t> sale_of_ref(std::string_view order_ref) {
  const auto dash = order_ref.find('-');
  if (dash == std::string_view::npos || order_ref.size() - dash - 1 != 32) {
    return std::nullopt;
  }
  for (const char c : order_ref.substr(dash + 1)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return std::nullopt;
    }
  }
  const auto v = campaigns::parse_int(order_ref.substr(0, dash));
  if (!v || *v <= 0) {
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(*v);
}

}  // namespace surge::flashsales
