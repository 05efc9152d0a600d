#include "profile/fenced_remote_cache.hpp"

#include <string>
#include <vector>

#include "profile/keys.hpp"
#include "profile/markers.hpp"
#include "profile/profile.hpp"

namespace surge::profile {

namespace {

// KEYS[1] = entry, KEYS[2] = its marker; ARGV[1] = value, ARGV[2] = TTL in
// seconds, ARGV[3] = the fence ("" = no marker expected).
constexpr std::string_view kFillLua = R"lua(
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
)lua";

}  // namespace

FencedRemoteCache::FencedRemoteCache(redis::Shards& shards, metrics::Registry& registry)
    : shards_(shards),
      inner_(shards),
      fill_script_(std::string(kFillLua)),
      stored_(registry.counter("surge_profile_l2_fills_total",
                               "Profile L2 fills after a load, by outcome (fenced = a write "
                               "raced with the load, nothing stored).",
                               {{"result", "stored"}})),
      fenced_(registry.counter("surge_profile_l2_fills_total",
                               "Profile L2 fills after a load, by outcome (fenced = a write "
                               "raced with the load, nothing stored).",
                               {{"result", "fenced"}})) {}

boost::asio::awaitable<std::optional<std::string>> FencedRemoteCache::get(std::string_view key) {
  co_return co_await inner_.get(key);
}

boost::asio::awaitable<void> FencedRemoteCache::del(std::string_view key) {
  co_await inner_.del(key);
}

boost::asio::awaitable<void> FencedRemoteCache::publish_invalidation(std::string_view key) {
  co_await inner_.publish_invalidation(key);
}

boost::asio::awaitable<void> FencedRemoteCache::set(std::string_view key, std::string_view value,
                                                    std::chrono::seconds ttl) {
  std::string fence;
  if (value != cache::kL2AbsentMarker) {
    const std::optional<CachedView> view = decode_cached(value);
    if (!view || view->fence == kNoFill) {
      fenced_.add();
      co_return;
    }
    fence = std::string(view->fence);
  }
  std::vector<std::string> keys{std::string(key), marker_key_of(key)};
  std::vector<std::string> args{std::string(value), std::to_string(ttl.count()), std::move(fence)};
  redis::Args key_args(std::move(keys));
  redis::Args arg_args(std::move(args));
  const std::size_t shard = shards_.shard_for(cache::hash_tag(key));
  const redis::Reply reply = co_await shards_.eval(shard, fill_script_, key_args, arg_args);
  if (reply.is_integer() && reply.as_integer() == 1) {
    stored_.add();
  } else {
    fenced_.add();
  }
}

}  // namespace surge::profile
