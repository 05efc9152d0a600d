#include "app/data_tier.hpp"

#include <stdexcept>

#include "pg/migrate.hpp"

namespace surge::app {

void DataTier::start() {
  if (database) {
    database->start();
  }
  if (redis) {
    redis->start();
  }
}

void DataTier::stop() {
  if (redis) {
    redis->stop();
  }
  if (database) {
    database->stop();
  }
}

DataTier connect_data_tier(const Config& config,
                           const std::vector<boost::asio::io_context*>& contexts,
                           metrics::Registry& registry) {
  DataTier tier;
  if (!config.database.primary.empty()) {
    // Blocking, before any I/O thread runs: refuse to serve an old schema.
    if (const auto pending = pg::check_schema(config.database.primary)) {
      throw std::runtime_error(*pending);
    }
    tier.database = std::make_unique<pg::Cluster>(config.database, contexts, registry);
  }
  if (!config.redis.shards.empty()) {
    tier.redis = std::make_unique<redis::Shards>(config.redis, contexts, registry);
    tier.remote_cache = std::make_unique<cache::RedisRemoteCache>(*tier.redis);
  }
  return tier;
}

}  // namespace surge::app
