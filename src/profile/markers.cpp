#include "profile/markers.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

#include <fmt/format.h>

#include "log/log.hpp"
#include "profile/keys.hpp"

namespace surge::profile {

namespace {

// KEYS[1] = marker, KEYS[2..] = keys to delete; ARGV[1] = LSN (16 hex),
// ARGV[2] = TTL in seconds. The LSN halves are compared as numbers (32 bits
// each, exact in Lua's doubles); string comparison would follow the server's
// collation locale.
constexpr std::string_view kMarkLua = R"lua(
local new = ARGV[1]
local n = 1
local cur = redis.call('GET', KEYS[1])
if cur then
  local old, count = string.match(cur, '^(%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x)%.(%d+)$')
  if old then
    n = tonumber(count) + 1
    local oh = tonumber(string.sub(old, 1, 8), 16)
    local ol = tonumber(string.sub(old, 9, 16), 16)
    local nh = tonumber(string.sub(new, 1, 8), 16)
    local nl = tonumber(string.sub(new, 9, 16), 16)
    if oh > nh or (oh == nh and ol > nl) then new = old end
  end
end
local value = new .. '.' .. n
redis.call('SET', KEYS[1], value, 'EX', ARGV[2])
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
return value
)lua";

}  // namespace

std::string format_marker_lsn(pg::Lsn lsn) {
  return fmt::format("{:016x}", lsn);
}

std::optional<pg::Lsn> parse_marker(std::string_view value) noexcept {
  if (value.size() < 18 || value[16] != '.') {
    return std::nullopt;
  }
  const std::string_view count = value.substr(17);
  if (!std::all_of(count.begin(), count.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  pg::Lsn lsn = 0;
  const std::string_view hex = value.substr(0, 16);
  const auto r = std::from_chars(hex.data(), hex.data() + hex.size(), lsn, 16);
  if (r.ec != std::errc{} || r.ptr != hex.data() + hex.size()) {
    return std::nullopt;
  }
  return lsn;
}

SharedMarkers::SharedMarkers(pg::Cluster& db, redis::Shards* shards,
                             std::chrono::seconds marker_ttl, metrics::Registry& registry)
    : db_(db),
      shards_(shards),
      ttl_(std::max(marker_ttl, std::chrono::seconds(1))),
      mark_script_(std::string(kMarkLua)),
      observe_errors_(registry.counter("surge_profile_marker_errors_total",
                                       "Redis errors reading or writing user write markers.",
                                       {{"op", "observe"}})),
      mark_errors_(registry.counter("surge_profile_marker_errors_total",
                                    "Redis errors reading or writing user write markers.",
                                    {{"op", "mark"}})),
      primary_reads_(registry.counter(
          "surge_profile_primary_reads_total",
          "User loads sent to the primary because the shared write marker was unreadable.")) {}

boost::asio::awaitable<SharedMarkers::Observed> SharedMarkers::observe(std::uint64_t user_id) {
  Observed out;
  out.min_lsn = db_.user_min_lsn(user_id);
  if (shards_ == nullptr) {
    co_return out;
  }
  const std::string key = marker_key(user_id);
  const std::size_t shard = shards_->shard_for(user_id);
  try {
    redis::Reply reply = co_await shards_->command(shard, {"GET", key});
    if (!reply.is_nil()) {
      out.fence = std::move(reply.as_string());
      const std::optional<pg::Lsn> remote = parse_marker(out.fence);
      out.min_lsn = std::max(out.min_lsn, remote.value_or(pg::kPrimaryLsn));
    }
  } catch (const redis::Error&) {
    // Unknown whether another server wrote: the primary is always fresh.
    observe_errors_.add();
    primary_reads_.add();
    out.min_lsn = pg::kPrimaryLsn;
    out.fence = std::string(kNoFill);
  }
  co_return out;
}

boost::asio::awaitable<bool> SharedMarkers::mark(std::uint64_t user_id, pg::Lsn lsn,
                                                 std::vector<std::string> also_delete) {
  db_.note_write(user_id, lsn);
  if (shards_ == nullptr) {
    co_return true;
  }
  std::vector<std::string> keys;
  keys.reserve(also_delete.size() + 1);
  keys.push_back(marker_key(user_id));
  for (std::string& k : also_delete) {
    keys.push_back(std::move(k));
  }
  const pg::Lsn marked = lsn == 0 ? pg::kPrimaryLsn : lsn;
  std::vector<std::string> args{format_marker_lsn(marked), std::to_string(ttl_.count())};
  redis::Args key_args(std::move(keys));
  redis::Args arg_args(std::move(args));
  const std::size_t shard = shards_->shard_for(user_id);
  try {
    co_await shards_->eval(shard, mark_script_, key_args, arg_args);
  } catch (const redis::Error& e) {
    mark_errors_.add();
    log::warn("user write marker not recorded",
              {{"user_id", user_id}, {"shard", shard}, {"error", e.what()}});
    co_return false;
  }
  co_return true;
}

}  // namespace surge::profile
