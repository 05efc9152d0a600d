#include "http/dispatcher.hpp"

#include <optional>
#include <string>

#include "http/error.hpp"
#include "log/log.hpp"

namespace surge::http {

void respond_error(Response& response, const Error& error) {
  response.status = error.status();
  response.content_type = "application/json";
  response.body = error_body(error.code(), error.what());
  if (error.retry_after().count() > 0 || error.status() == Status::kServiceUnavailable ||
      error.status() == Status::kTooManyRequests) {
    response.set("Retry-After", std::to_string(std::max<long>(1, error.retry_after().count())));
  }
}

const AsyncHandler* Dispatcher::begin(Context& ctx) noexcept {
  try {
    Router::Match match = router_.match(ctx.request.method, ctx.request.path);
    ctx.route = match.route;
    ctx.params = match.params;
    for (const auto& m : chain_) {
      ++ctx.middlewares_entered;
      m->before(ctx);
    }
    if (match.outcome == Router::Outcome::kNotFound) {
      throw Error(Status::kNotFound, "not_found", "no route for this path");
    }
    if (match.outcome == Router::Outcome::kMethodNotAllowed) {
      ctx.response.set("Allow", std::string(match.allow));
      throw Error(Status::kMethodNotAllowed, "method_not_allowed",
                  "method not allowed on this path");
    }
    if (const auto* async = std::get_if<AsyncHandler>(&ctx.route->handler)) {
      return async;
    }
    std::get<SyncHandler>(ctx.route->handler)(ctx);
  } catch (...) {
    fail(ctx, std::current_exception());
  }
  return nullptr;
}

void Dispatcher::fail(Context& ctx, std::exception_ptr error) noexcept {
  // Headers a handler added before failing (other than Allow) are dropped:
  // an error response must not carry half of a success response.
  std::string allow;
  for (const auto& f : ctx.response.fields) {
    if (f.name == "Allow") {
      allow = f.value;
    }
  }
  ctx.response.clear();
  if (!allow.empty()) {
    ctx.response.set("Allow", std::move(allow));
  }
  try {
    std::rethrow_exception(std::move(error));
  } catch (const Error& e) {
    respond_error(ctx.response, e);
  } catch (const std::exception& e) {
    if (const std::optional<Error> mapped = translate(e)) {
      respond_error(ctx.response, *mapped);
      return;
    }
    log::error(
        "unhandled exception in handler",
        {{"route", ctx.route != nullptr ? std::string_view(ctx.route->pattern) : "unmatched"},
         {"request_id", ctx.request_id},
         {"error", e.what()}});
    respond_error(ctx.response,
                  Error(Status::kInternalServerError, "internal", "internal server error"));
  } catch (...) {
    log::error("unhandled non-standard exception in handler", {{"request_id", ctx.request_id}});
    respond_error(ctx.response,
                  Error(Status::kInternalServerError, "internal", "internal server error"));
  }
}

std::optional<Error> Dispatcher::translate(const std::exception& e) const noexcept {
  for (const ErrorTranslator translator : translators_) {
    try {
      if (std::optional<Error> mapped = translator(e)) {
        return mapped;
      }
    } catch (...) {  // NOLINT(bugprone-empty-catch): a throwing translator declines (header)
    }
  }
  return std::nullopt;
}

void Dispatcher::finish(Context& ctx) noexcept {
  for (std::size_t i = ctx.middlewares_entered; i > 0; --i) {
    chain_[i - 1]->after(ctx);
  }
}

}  // namespace surge::http
