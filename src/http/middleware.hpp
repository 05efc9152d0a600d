#pragma once

// The middleware chain. Each request passes every middleware's before() in
// order, then the handler, then every after() in reverse order:
//
//   request id → metrics → access log → authentication → handler
//
// Middlewares are synchronous (they never wait), so the chain costs a few
// virtual calls and no coroutine frame. Error mapping is not a middleware:
// the dispatcher wraps before(), the handler and after() and turns any
// http::Error (or anything else) into the API.md §1 error body.
//
// Thread safety: one chain serves every I/O thread; implementations keep
// per-thread state themselves (metrics handles are already per-thread).

#include <optional>
#include <string_view>

#include "http/context.hpp"

namespace surge::http {

class Middleware {
 public:
  virtual ~Middleware() = default;
  // May throw http::Error to answer early; the handler is then skipped, and
  // only the after() of middlewares whose before() ran are called.
  virtual void before(Context& /*ctx*/) {}
  // Sees the final response. MUST NOT throw.
  virtual void after(Context& /*ctx*/) noexcept {}
};

// The authentication hook: the auth middleware asks it about the bearer
// token of routes that need one. Implemented by the accounts module.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // A valid user token's user id, or nullopt (→ 401).
  virtual std::optional<std::uint64_t> verify_user_token(std::string_view token) const = 0;
  // Whether `token` is the configured admin token (compared in constant time).
  virtual bool is_admin_token(std::string_view token) const = 0;
};

}  // namespace surge::http
