#pragma once

// The data tier of one process (`surge serve`, `surge worker`): the
// PostgreSQL cluster, the Redis shards and the remote cache over them.
// Members are declared in dependency order, so they are destroyed in
// reverse: caches before the clients they use.
//
// connect_data_tier() checks the schema (blocking, before any I/O thread
// runs: refuses an unmigrated database) and constructs what the
// configuration names; it connects nothing until start().

#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "app/config.hpp"
#include "cache/redis_remote_cache.hpp"
#include "metrics/registry.hpp"
#include "pg/cluster.hpp"
#include "redis/shards.hpp"

namespace surge::app {

struct DataTier {
  std::unique_ptr<pg::Cluster> database;
  std::unique_ptr<redis::Shards> redis;
  std::unique_ptr<cache::RedisRemoteCache> remote_cache;

  void start();
  void stop();
};

DataTier connect_data_tier(const Config& config,
                           const std::vector<boost::asio::io_context*>& contexts,
                           metrics::Registry& registry);

}  // namespace surge::app
