#pragma once

#include <array>
#include <vector>

#include "http/middleware.hpp"
#include "metrics/registry.hpp"

namespace surge::http {

// Per-route request counters and latency histograms, by status (API.md §7):
//   surge_http_requests_total{route,method,status}
//   surge_http_request_duration_seconds{route,method,status}
// Every handle is resolved when the middleware is built, one pair per
// (route, status), so recording is an array index and per-thread cell
// writes. Series appear once they record (most statuses never do).
// Requests that match no route are counted under route="unmatched".
class RouteMetricsMiddleware final : public Middleware {
 public:
  RouteMetricsMiddleware(const Router& router, metrics::Registry& registry);
  void after(Context& ctx) noexcept override;

 private:
  static constexpr std::size_t kStatusSlots = 24;
  struct PerStatus {
    metrics::Counter count;
    metrics::Histogram latency;
  };
  struct PerRoute {
    std::array<PerStatus, kStatusSlots> by_status;
  };
  std::vector<PerRoute> routes_;  // by Route::index; the last one is "unmatched"
};

}  // namespace surge::http
