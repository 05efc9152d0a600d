#pragma once

#include "app/config.hpp"

namespace surge::app {

// `surge worker`: the queue consumers (worker/consumer.hpp) persisting the
// campaign streams, plus /healthz, /readyz and /metrics on worker.address:
// worker.port. Needs database.primary and redis.shards (ConfigError
// otherwise). Runs until SIGTERM/SIGINT: the consumers finish the batch in
// hand (bounded by server.shutdown_timeout), then everything stops; exit 0.
int worker(const Config& config);

}  // namespace surge::app
