#pragma once

// Runs one request through routing, the middleware chain, the handler and
// error mapping. Split in two phases so a synchronous handler costs no
// coroutine frame:
//
//   if (const AsyncHandler* h = dispatcher.begin(ctx)) {
//     try { co_await (*h)(ctx); } catch (...) { dispatcher.fail(ctx, std::current_exception()); }
//   }
//   dispatcher.finish(ctx);
//
// Errors: an http::Error is answered as it is (API.md §1). Any other
// exception is offered to the registered error translators, in order; the
// first that recognizes it names the answer (a failure of a dependency —
// database or cache unreachable — is mapped here, once, not by every
// handler). Nothing recognizes it: logged, answered 500.
//
// Thread safety: built before the server starts, then read-only.

#include <exception>
#include <memory>
#include <optional>
#include <vector>

#include "http/error.hpp"
#include "http/middleware.hpp"
#include "http/router.hpp"

namespace surge::http {

// Maps an exception that is not an http::Error (a pg::Error, a redis::Error:
// src/http knows neither) to the error answered; nullopt: not one of its
// own. Called only for a failed request, never on the success path. MUST
// NOT throw (a translator that does counts as declining).
using ErrorTranslator = std::optional<Error> (*)(const std::exception& e);

class Dispatcher {
 public:
  Dispatcher() = default;
  explicit Dispatcher(Router router) : router_(std::move(router)) {}

  // Before the server starts only: the routes' handlers often need clients
  // that live on the server's io_contexts, so the table may come second.
  void set_router(Router router) { router_ = std::move(router); }

  void use(std::unique_ptr<Middleware> middleware) { chain_.push_back(std::move(middleware)); }
  const Router& router() const { return router_; }

  // Before the server starts only. Consulted in the order added.
  void add_error_translator(ErrorTranslator translator) { translators_.push_back(translator); }

  // Matches the route and runs before() of each middleware, then a
  // synchronous handler. Returns the asynchronous handler the caller must
  // await, or nullptr when the response is complete. Never throws.
  const AsyncHandler* begin(Context& ctx) noexcept;

  // Maps what an asynchronous handler threw (http::Error as it is, else the
  // first translator's answer, else 500). Never throws.
  void fail(Context& ctx, std::exception_ptr error) noexcept;

  // Runs after() of the middlewares that were entered, in reverse.
  void finish(Context& ctx) noexcept;

 private:
  // The first registered translator's answer for `e`, if any.
  std::optional<Error> translate(const std::exception& e) const noexcept;

  Router router_;
  std::vector<std::unique_ptr<Middleware>> chain_;
  std::vector<ErrorTranslator> translators_;
};

// Writes the API.md §1 error body (and Retry-After, Allow) into `response`.
void respond_error(Response& response, const Error& error);

}  // namespace surge::http
