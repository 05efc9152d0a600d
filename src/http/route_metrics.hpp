#pragma once

#include <array>
#include <vector>

#include "http/middleware.hpp"
#include "metrics/registry.hpp"

namespace surge::http {

// Per-route request counters (by status) and latency histograms:
//   surge_http_requests_total{route,method,status}
//   surge_http_request_duration_seconds{route,method}
// Every handle is resolved when the middleware is built, one per (route,
// status), so recording is an array index and a per-thread cell write.
// Requests that match no route are counted under route="unmatched".
class RouteMetricsMiddleware final : public Middleware {
 public:
  RouteMetricsMiddleware(const Router& router, metrics::Registry& registry);
  void after(Context& ctx) noexcept override;

 private:
  static constexpr std::size_t kStatusSlots = 24;
  struct PerRoute {
    metrics::Histogram latency;
    std::array<metrics::Counter, kStatusSlots> by_status;
  };
  std::vector<PerRoute> routes_;  // by Route::index; the last one is "unmatched"
};

}  // namespace surge::http
