#pragma once

// Health probes of the data tier for ops::Health (/healthz, /readyz).

#include <vector>

#include "ops/health.hpp"
#include "pg/cluster.hpp"
#include "redis/shards.hpp"

namespace surge::app {

// database.primary (required), database.replica-N, cache.shard-N and queue
// (the Redis streams live on the shards: "up" when all are, "degraded" when
// some are down, "down" when none is up). Null clients are not configured and
// are not listed.
std::vector<ops::Probe> probes_for(const pg::Cluster* database, const redis::Shards* redis);

}  // namespace surge::app
