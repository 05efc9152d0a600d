#include "http/route_metrics.hpp"

#include <string>

namespace surge::http {

namespace {

constexpr std::array kStatuses = {
    Status::kOk,
    Status::kCreated,
    Status::kAccepted,
    Status::kNoContent,
    Status::kNotModified,
    Status::kBadRequest,
    Status::kUnauthorized,
    Status::kForbidden,
    Status::kNotFound,
    Status::kMethodNotAllowed,
    Status::kRequestTimeout,
    Status::kConflict,
    Status::kGone,
    Status::kLengthRequired,
    Status::kPayloadTooLarge,
    Status::kUriTooLong,
    Status::kUnprocessableEntity,
    Status::kTooManyRequests,
    Status::kRequestHeaderFieldsTooLarge,
    Status::kInternalServerError,
    Status::kNotImplemented,
    Status::kServiceUnavailable,
    Status::kHttpVersionNotSupported,
};

std::size_t slot_of(Status s) {
  for (std::size_t i = 0; i < kStatuses.size(); ++i) {
    if (kStatuses[i] == s) {
      return i;
    }
  }
  return kStatuses.size() - 1;
}

}  // namespace

RouteMetricsMiddleware::RouteMetricsMiddleware(const Router& router, metrics::Registry& registry) {
  static_assert(kStatuses.size() <= kStatusSlots);
  const auto make = [&registry](const std::string& route, std::string_view method) {
    PerRoute r;
    for (std::size_t i = 0; i < kStatuses.size(); ++i) {
      const metrics::Labels labels{{"route", route},
                                   {"method", std::string(method)},
                                   {"status", std::to_string(code(kStatuses[i]))}};
      r.by_status[i].count = registry.counter("surge_http_requests_total",
                                              "HTTP requests answered, by route and status.",
                                              labels, metrics::Visibility::kOnceNonZero);
      r.by_status[i].latency = registry.histogram(
          "surge_http_request_duration_seconds",
          "Time from a request's parse to its response, by route and status.", labels,
          metrics::default_latency_bounds(), metrics::Visibility::kOnceNonZero);
    }
    return r;
  };
  for (const auto& route : router.routes()) {
    routes_.push_back(make(route->pattern, method_name(route->method)));
  }
  routes_.push_back(make("unmatched", "any"));
}

void RouteMetricsMiddleware::after(Context& ctx) noexcept {
  PerRoute& r = ctx.route == nullptr ? routes_.back() : routes_[ctx.route->index];
  const PerStatus& m = r.by_status[slot_of(ctx.response.status)];
  m.count.add();
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - ctx.started;
  m.latency.observe(elapsed.count());
}

}  // namespace surge::http
