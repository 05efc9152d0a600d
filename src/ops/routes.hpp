#pragma once

// Operations endpoint GET /metrics (API.md §7). /healthz and /readyz are
// ops::Health's.

#include "http/router.hpp"
#include "metrics/registry.hpp"

namespace surge::ops {

void add_routes(http::Router& router, metrics::Registry& registry);

}  // namespace surge::ops
