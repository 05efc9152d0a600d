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
// Thread safety: built before the server starts, then read-only.

#include <exception>
#include <memory>
#include <vector>

#include "http/middleware.hpp"
#include "http/router.hpp"

namespace surge::http {

class Error;

class Dispatcher {
 public:
  Dispatcher() = default;
  explicit Dispatcher(Router router) : router_(std::move(router)) {}

  // Before the server starts only: the routes' handlers often need clients
  // that live on the server's io_contexts, so the table may come second.
  void set_router(Router router) { router_ = std::move(router); }

  void use(std::unique_ptr<Middleware> middleware) { chain_.push_back(std::move(middleware)); }
  const Router& router() const { return router_; }

  // Matches the route and runs before() of each middleware, then a
  // synchronous handler. Returns the asynchronous handler the caller must
  // await, or nullptr when the response is complete. Never throws.
  const AsyncHandler* begin(Context& ctx) noexcept;

  // Maps what an asynchronous handler threw. Never throws.
  void fail(Context& ctx, std::exception_ptr error) noexcept;

  // Runs after() of the middlewares that were entered, in reverse.
  void finish(Context& ctx) noexcept;

 private:
  Router router_;
  std::vector<std::unique_ptr<Middleware>> chain_;
};

// Writes the API.md §1 error body (and Retry-After, Allow) into `response`.
void respond_error(Response& response, const Error& error);

}  // namespace surge::http
