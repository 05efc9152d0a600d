#pragma once

#include "http/middleware.hpp"

namespace surge::http {

// X-Request-Id (API.md §1): echoed when the client sends a sane one (1–128
// visible ASCII characters), generated otherwise. Generated ids are unique per
// process run: 8 hex digits of a random process tag, then a per-thread
// sequence, so generating one costs no lock and no system call.
class RequestIdMiddleware final : public Middleware {
 public:
  void before(Context& ctx) override;
};

bool is_acceptable_request_id(std::string_view id);

// Sets ctx.request_id from the request or a new id (what the middleware does;
// also used for responses the parser answers before routing).
void assign_request_id(Context& ctx);

}  // namespace surge::http
