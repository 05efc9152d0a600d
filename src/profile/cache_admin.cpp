#include "profile/cache_admin.hpp"

#include <stdexcept>
#include <utility>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "http/context.hpp"
#include "http/error.hpp"
#include "http/json_body.hpp"

namespace surge::profile {

namespace {

constexpr std::chrono::seconds kShardRetryAfter{1};

}  // namespace

void CacheAdmin::register_scope(std::string name, IdRule rule, Handler handler) {
  if (name.empty() || !handler) {
    throw std::invalid_argument("cache admin: a scope needs a name and a handler");
  }
  auto it = scopes_.find(name);
  if (it == scopes_.end()) {
    Scope scope;
    scope.rule = rule;
    scope.done =
        registry_.counter("surge_cache_admin_invalidations_total",
                          "Admin cache invalidations completed, by scope.", {{"scope", name}});
    it = scopes_.emplace(std::move(name), std::move(scope)).first;
  } else if (it->second.rule != rule) {
    throw std::invalid_argument("cache admin: scope " + it->first +
                                " registered with two different id rules");
  }
  it->second.handlers.push_back(std::move(handler));
}

bool CacheAdmin::has_scope(std::string_view name) const {
  return scopes_.contains(name);
}

CacheAdmin::Request CacheAdmin::parse(std::string_view body) const {
  const http::JsonBody json(body);
  Request request;
  request.scope = std::string(json.required_string("scope"));
  const auto scope = scopes_.find(request.scope);
  if (scope == scopes_.end()) {
    throw http::Error::invalid_request("scope", "unknown scope");
  }
  const boost::json::value* id = json.object().if_contains("id");
  if (id != nullptr && !id->is_null()) {
    const std::optional<std::int64_t> v = http::as_int(*id);
    if (!v || *v <= 0) {
      throw http::Error::invalid_request("id", "must be a positive integer");
    }
    request.id = static_cast<std::uint64_t>(*v);
  }
  for (const auto& field : json.object()) {
    if (field.key() != "scope" && field.key() != "id") {
      throw http::Error::invalid_request(field.key(), "unknown field");
    }
  }
  if (scope->second.rule == IdRule::kRequired && !request.id) {
    throw http::Error::invalid_request("id", "required for this scope");
  }
  if (scope->second.rule == IdRule::kNone && request.id) {
    throw http::Error::invalid_request("id", "not used by this scope");
  }
  return request;
}

boost::asio::awaitable<std::string> CacheAdmin::run(Request request) {
  Scope& scope = scopes_.at(request.scope);
  bool confirmed = true;
  for (const Handler& handler : scope.handlers) {
    const bool ok = co_await handler(request.id);
    confirmed = confirmed && ok;
  }
  if (!confirmed) {
    throw http::Error::unavailable("a cache shard is unavailable; retry the invalidation",
                                   kShardRetryAfter);
  }
  scope.done.add();
  boost::json::object out;
  out.emplace("scope", request.scope);
  if (request.id) {
    out.emplace("id", *request.id);
  } else {
    out.emplace("id", nullptr);
  }
  out.emplace("invalidated", true);
  co_return boost::json::serialize(out);
}

boost::asio::awaitable<void> CacheAdmin::handle(http::Context& ctx) {
  Request request = parse(ctx.request.body);
  const std::string body = co_await run(std::move(request));
  ctx.response.json(http::Status::kOk, body);
}

void CacheAdmin::add_routes(http::Router& router) {
  router.add({http::Method::kPost, "/api/v1/admin/cache/invalidate", http::Auth::kAdmin,
              http::AsyncHandler([this](http::Context& ctx) { return handle(ctx); })});
}

}  // namespace surge::profile
