#include "http/access_log.hpp"

#include "log/log.hpp"

namespace surge::http {

void AccessLogMiddleware::after(Context& ctx) noexcept {
  if (!log::enabled(log::Level::kInfo)) {
    return;
  }
  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - ctx.started);
  log::info("request",
            {{"method", ctx.request.method_text},
             {"path", ctx.request.path},
             {"route", ctx.route != nullptr ? std::string_view(ctx.route->pattern) : "unmatched"},
             {"status", code(ctx.response.status)},
             {"duration_us", elapsed.count()},
             {"request_id", ctx.request_id},
             {"bytes", ctx.response.body.size()}});
}

}  // namespace surge::http
