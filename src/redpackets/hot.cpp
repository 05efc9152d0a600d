#include "redpackets/hot.hpp"

#include <string_view>

#include <fmt/format.h>

#include "campaigns/stream.hpp"

namespace surge::redpackets {

namespace {

// KEYS: meta, amounts, grabs, stream. ARGV: user id, red packet id.
// Returns {code, amount}: 0 granted, 1 already grabbed, -1 unknown,
// -2 not started, -3 ended, -4 sold out. The amount is returned as the
// stored string: Lua numbers are doubles, exact only up to 2^53.
// Every redis.call costs the shard about a microsecond, and the shard is
// the ceiling of a red packet's grabs per second, so the script makes as
// few as it can (8 per grant): the meta's HMGET is also the existence
// check, and the grabs hash (created by the first grant: preload deletes
// it and zeroes granted_count) gets the red packet's expiry when
// granted_count becomes 1, not by a PTTL on every grant.
const redis::Script kGrab(R"lua(
local w = redis.call('HMGET', KEYS[1], 'starts_ms', 'ends_ms')
if not w[1] then return {-1, 0} end
local prev = redis.call('HGET', KEYS[3], ARGV[1])
if prev then return {1, prev} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now < tonumber(w[1]) then return {-2, 0} end
if now >= tonumber(w[2]) then return {-3, 0} end
local amount = redis.call('LPOP', KEYS[2])
if not amount then return {-4, 0} end
redis.call('HSET', KEYS[3], ARGV[1], amount)
if redis.call('HINCRBY', KEYS[1], 'granted_count', 1) == 1 then
  local expires = redis.call('PEXPIRETIME', KEYS[1])
  if expires > 0 then redis.call('PEXPIREAT', KEYS[3], expires) end
end
redis.call('HINCRBY', KEYS[1], 'granted_cents', amount)
redis.call('XADD', KEYS[4], '*', 'rp', ARGV[2], 'user', ARGV[1], 'amount', amount, 'at', now)
return {0, amount}
)lua");

constexpr std::size_t kPushChunk = 1000;

}  // namespace

std::string meta_key(std::uint64_t id) {
  return fmt::format("rp:{{{}}}:meta", id);
}
std::string amounts_key(std::uint64_t id) {
  return fmt::format("rp:{{{}}}:amounts", id);
}
std::string grabs_key(std::uint64_t id) {
  return fmt::format("rp:{{{}}}:grabs", id);
}

boost::asio::awaitable<void> preload(redis::Shards& shards, std::uint64_t id, Meta meta,
                                     std::vector<std::int64_t> amounts) {
  const std::size_t shard = shards.shard_for(id);
  const std::string meta_k = meta_key(id);
  const std::string amounts_k = amounts_key(id);
  const std::string grabs_k = grabs_key(id);
  std::vector<redis::Command> commands;
  commands.emplace_back("MULTI");
  commands.emplace_back("DEL", meta_k, amounts_k, grabs_k);
  for (std::size_t i = 0; i < amounts.size(); i += kPushChunk) {
    std::vector<std::string> push{"RPUSH", amounts_k};
    for (std::size_t j = i; j < amounts.size() && j < i + kPushChunk; ++j) {
      push.push_back(std::to_string(amounts[j]));
    }
    commands.emplace_back(push);
  }
  commands.emplace_back("HSET", meta_k, "starts_ms", meta.starts_ms, "ends_ms", meta.ends_ms,
                        "count", meta.count, "total_cents", meta.total_cents, "granted_count", 0,
                        "granted_cents", 0);
  if (meta.expires_ms > 0) {
    commands.emplace_back("PEXPIREAT", meta_k, meta.expires_ms);
    commands.emplace_back("PEXPIREAT", amounts_k, meta.expires_ms);
  }
  commands.emplace_back("EXEC");
  const std::vector<redis::Reply> replies = co_await shards.pipeline(shard, std::move(commands));
  const redis::Reply& exec = replies.back();
  if (exec.is_error() || exec.is_nil()) {
    throw redis::ServerError("EXECABORT",
                             std::string(exec.is_error() ? exec.error_line() : "EXEC aborted"));
  }
  for (const redis::Reply& r : exec.as_array()) {
    r.throw_if_error();
  }
}

boost::asio::awaitable<Grab> grab(redis::Shards& shards, std::uint64_t id, std::uint64_t user_id) {
  const std::size_t shard = shards.shard_for(id);
  const std::string meta_k = meta_key(id);
  const std::string amounts_k = amounts_key(id);
  const std::string grabs_k = grabs_key(id);
  const std::string stream(campaigns::kRedpacketStream);
  redis::Args keys(meta_k, amounts_k, grabs_k, stream);
  redis::Args args(user_id, id);
  const redis::Reply reply = co_await shards.eval(shard, kGrab, keys, args);
  const auto& a = reply.as_array();
  if (a.size() != 2) {
    throw redis::ProtocolError("grab script: expected {code, amount}");
  }
  Grab g;
  if (a[1].is_string()) {
    const auto amount = campaigns::parse_int(a[1].as_string());
    if (!amount) {
      throw redis::ProtocolError("grab script: amount is not an integer");
    }
    g.amount_cents = *amount;
  } else {
    g.amount_cents = a[1].as_integer();
  }
  switch (a[0].as_integer()) {
    case 0:
      g.outcome = Grab::Outcome::kGranted;
      break;
    case 1:
      g.outcome = Grab::Outcome::kAlreadyGrabbed;
      break;
    case -2:
      g.outcome = Grab::Outcome::kNotStarted;
      break;
    case -3:
      g.outcome = Grab::Outcome::kEnded;
      break;
    case -4:
      g.outcome = Grab::Outcome::kSoldOut;
      break;
    default:
      g.outcome = Grab::Outcome::kUnknown;
      break;
  }
  co_return g;
}

boost::asio::awaitable<std::optional<Counts>> counts(redis::Shards& shards, std::uint64_t id) {
  const std::size_t shard = shards.shard_for(id);
  std::vector<redis::Command> commands;
  commands.emplace_back("HMGET", meta_key(id), "granted_count", "granted_cents");
  commands.emplace_back("LLEN", amounts_key(id));
  const std::vector<redis::Reply> replies = co_await shards.pipeline(shard, std::move(commands));
  for (const auto& r : replies) {
    r.throw_if_error();
  }
  const auto& fields = replies[0].as_array();
  if (fields.size() != 2 || fields[0].is_nil()) {
    co_return std::nullopt;
  }
  Counts c;
  c.granted_count = campaigns::parse_int(fields[0].as_string()).value_or(0);
  c.granted_cents = campaigns::parse_int(fields[1].as_string()).value_or(0);
  c.remaining = replies[1].as_integer();
  co_return c;
}

}  // namespace surge::redpackets
