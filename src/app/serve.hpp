#pragma once

#include "app/config.hpp"

namespace surge::app {

// `surge serve`: runs the HTTP API until SIGTERM or SIGINT, then shuts down
// gracefully (stop accepting, finish in-flight requests within
// server.shutdown_timeout_ms) and returns 0.
int serve(const Config& config);

}  // namespace surge::app
