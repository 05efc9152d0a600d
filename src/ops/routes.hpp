#pragma once

// Operations endpoints (API.md §7): GET /healthz and GET /metrics.
// /readyz joins when the data tier does (it reports each dependency).

#include "http/router.hpp"
#include "metrics/registry.hpp"

namespace surge::ops {

void add_routes(http::Router& router, metrics::Registry& registry);

}  // namespace surge::ops
