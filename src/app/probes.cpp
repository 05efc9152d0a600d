#include "app/probes.hpp"

#include <fmt/format.h>

namespace surge::app {

namespace {

ops::DependencyState from_node(const pg::NodeState& node, bool required) {
  ops::DependencyState d;
  d.name = "database." + node.name;
  d.state = std::string(pg::to_string(node.health));
  d.required = required;
  d.serving = required ? node.health == pg::Health::kUp : node.in_rotation;
  d.details["address"] = node.address;
  if (!required) {
    d.details["in_rotation"] = node.in_rotation;
    d.details["lag_ms"] = node.lag_ms;
  }
  if (!node.error.empty()) {
    d.details["error"] = node.error;
  }
  return d;
}

}  // namespace

std::vector<ops::Probe> probes_for(const pg::Cluster* database, const redis::Shards* redis) {
  std::vector<ops::Probe> probes;
  if (database != nullptr) {
    probes.emplace_back([database] {
      std::vector<ops::DependencyState> out;
      out.push_back(from_node(database->primary_state(), true));
      for (const auto& replica : database->replica_states()) {
        out.push_back(from_node(replica, false));
      }
      return out;
    });
  }
  if (redis != nullptr) {
    probes.emplace_back([redis] {
      std::vector<ops::DependencyState> out;
      std::size_t up = 0;
      for (std::size_t i = 0; i < redis->shard_count(); ++i) {
        const redis::ShardState s = redis->state(i);
        ops::DependencyState d;
        d.name = fmt::format("cache.shard-{}", i);
        d.state = std::string(redis::status_name(s.status));
        d.serving = s.status == redis::ShardState::Status::kUp;
        d.details["address"] = s.address;
        if (!s.last_error.empty()) {
          d.details["error"] = s.last_error;
        }
        up += d.serving ? 1 : 0;
        out.push_back(std::move(d));
      }
      ops::DependencyState queue;
      queue.name = "queue";
      queue.state = up == redis->shard_count() ? "up" : (up == 0 ? "down" : "degraded");
      queue.serving = up > 0;
      queue.details["shards_up"] = up;
      queue.details["shards"] = redis->shard_count();
      out.push_back(std::move(queue));
      return out;
    });
  }
  return probes;
}

}  // namespace surge::app
