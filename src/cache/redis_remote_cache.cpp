#include "cache/redis_remote_cache.hpp"

#include <string>

namespace surge::cache {

std::string_view hash_tag(std::string_view key) {
  const auto open = key.find('{');
  if (open == std::string_view::npos) {
    return key;
  }
  const auto close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) {
    return key;
  }
  return key.substr(open + 1, close - open - 1);
}

boost::asio::awaitable<std::optional<std::string>> RedisRemoteCache::get(std::string_view key) {
  redis::Reply reply = co_await shards_.command(shards_.shard_for(hash_tag(key)), {"GET", key});
  if (reply.is_nil()) {
    co_return std::nullopt;
  }
  co_return std::move(reply.as_string());
}

boost::asio::awaitable<void> RedisRemoteCache::set(std::string_view key, std::string_view value,
                                                   std::chrono::seconds ttl) {
  co_await shards_.command(shards_.shard_for(hash_tag(key)),
                           {"SET", key, value, "EX", static_cast<long long>(ttl.count())});
}

boost::asio::awaitable<void> RedisRemoteCache::del(std::string_view key) {
  co_await shards_.command(shards_.shard_for(hash_tag(key)), {"DEL", key});
}

boost::asio::awaitable<void> RedisRemoteCache::publish_invalidation(std::string_view key) {
  co_await shards_.publish_all(std::string(kInvalidationChannel), std::string(key));
}

void RedisRemoteCache::subscribe(TwoLevelCache& cache) {
  shards_.subscribe(std::string(kInvalidationChannel),
                    [&cache](std::string_view key) { cache.on_invalidation(key); });
}

}  // namespace surge::cache
