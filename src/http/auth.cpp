#include "http/auth.hpp"

#include "http/error.hpp"

namespace surge::http {

std::string_view bearer_token(const Request& request) {
  const auto value = request.header("Authorization");
  if (!value) {
    return {};
  }
  constexpr std::string_view kScheme = "Bearer ";
  if (value->size() <= kScheme.size() || !iequals(value->substr(0, kScheme.size()), kScheme)) {
    return {};
  }
  std::string_view token = value->substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') {
    token.remove_prefix(1);
  }
  return token;
}

void AuthMiddleware::before(Context& ctx) {
  if (ctx.route == nullptr || ctx.route->auth == Auth::kNone) {
    return;
  }
  const std::string_view token = bearer_token(ctx.request);
  if (token.empty() || authenticator_ == nullptr) {
    throw Error::unauthorized("missing bearer token");
  }
  if (ctx.route->auth == Auth::kAdmin) {
    if (authenticator_->is_admin_token(token)) {
      ctx.principal.admin = true;
      return;
    }
    if (authenticator_->verify_user_token(token)) {
      throw Error::forbidden("admin token required");
    }
    throw Error::unauthorized("invalid admin token");
  }
  const auto user = authenticator_->verify_user_token(token);
  if (!user) {
    throw Error::unauthorized("invalid or expired token");
  }
  ctx.principal.user_id = *user;
}

}  // namespace surge::http
