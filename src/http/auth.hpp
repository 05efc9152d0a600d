#pragma once

#include "http/middleware.hpp"

namespace surge::http {

// Enforces each route's Auth metadata (API.md §1):
//   kUser  — a valid user token, else 401 unauthorized;
//   kAdmin — the admin token; a valid *user* token gets 403 forbidden,
//            anything else 401.
// Without an authenticator every protected route answers 401.
class AuthMiddleware final : public Middleware {
 public:
  explicit AuthMiddleware(const Authenticator* authenticator) : authenticator_(authenticator) {}
  void before(Context& ctx) override;

 private:
  const Authenticator* authenticator_;
};

// The token of "Authorization: Bearer <token>", or empty.
std::string_view bearer_token(const Request& request);

}  // namespace surge::http
