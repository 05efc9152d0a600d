#include "app/data_tier.hpp"

#include <stdexcept>

#include "log/log.hpp"
#include "pg/error.hpp"
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
    // Checked on the primary, or on a replica while the primary is down: a
    // server (re)started during a primary outage comes up, serves what the
    // replicas can and says 503 on /readyz, instead of staying down until
    // someone restarts it (DESIGN.md principle 4).
    std::vector<std::string> nodes{config.database.primary};
    nodes.insert(nodes.end(), config.database.replicas.begin(), config.database.replicas.end());
    bool checked = false;
    for (const std::string& node : nodes) {
      try {
        if (const auto pending = pg::check_schema(node)) {
          throw std::runtime_error(*pending);
        }
        checked = true;
        break;
      } catch (const pg::Error& e) {
        log::warn("database node unreachable at start", {{"error", e.what()}});
      }
    }
    if (!checked) {
      log::error(
          "no database node answers: serving without a schema check; /readyz says 503 until "
          "the primary is back");
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
