#include "profile/user_center.hpp"

#include <stdexcept>
#include <string>
#include <utility>

#include "http/context.hpp"
#include "http/error.hpp"
#include "http/etag.hpp"
#include "http/json_body.hpp"
#include "profile/profile.hpp"

namespace surge::profile {

namespace {

std::string string_field(const boost::json::value& v, std::string_view field) {
  if (!v.is_string()) {
    throw http::Error::invalid_request(field, "must be a string");
  }
  const boost::json::string& s = v.get_string();
  return {s.data(), s.size()};
}

// The cached entry's views; an entry that does not decode is a bug (or a
// foreign writer of the key): 500, logged by the dispatcher.
CachedView decoded(const cache::Value& entry) {
  std::optional<CachedView> view = decode_cached(*entry);
  if (!view) {
    throw std::runtime_error("profile cache: malformed entry");
  }
  return *view;
}

}  // namespace

Patch parse_patch(std::string_view body) {
  const http::JsonBody json(body);
  Patch patch;
  for (const auto& field : json.object()) {
    const std::string_view name = field.key();
    if (name == "nickname") {
      std::string nickname = string_field(field.value(), name);
      if (const auto why = check_nickname(nickname)) {
        throw http::Error::invalid_request(name, *why);
      }
      patch.nickname = std::move(nickname);
    } else if (name == "avatar_url") {
      std::string url = string_field(field.value(), name);
      if (const auto why = check_avatar_url(url)) {
        throw http::Error::invalid_request(name, *why);
      }
      patch.avatar_url = std::move(url);
    } else {
      throw http::Error::invalid_request(name, "unknown field (allowed: nickname, avatar_url)");
    }
  }
  return patch;
}

UserCenter::UserCenter(pg::Cluster& db, redis::Shards* shards, const Settings& settings,
                       metrics::Registry& registry)
    : store_(db, shards, settings, registry) {}

void UserCenter::add_routes(http::Router& router) {
  router.add({http::Method::kGet, "/api/v1/me", http::Auth::kUser,
              http::AsyncHandler([this](http::Context& ctx) { return get_me(ctx); })});
  router.add({http::Method::kPatch, "/api/v1/me", http::Auth::kUser,
              http::AsyncHandler([this](http::Context& ctx) { return patch_me(ctx); })});
  router.add({http::Method::kGet, "/api/v1/users/{id}", http::Auth::kNone,
              http::AsyncHandler([this](http::Context& ctx) { return get_user(ctx); })});
}

void UserCenter::register_admin_scopes(CacheAdmin& admin) {
  admin.register_scope("user", CacheAdmin::IdRule::kRequired,
                       [this](std::optional<std::uint64_t> id) { return invalidate_user(id); });
}

boost::asio::awaitable<bool> UserCenter::invalidate_user(std::optional<std::uint64_t> id) {
  co_return co_await store_.invalidate(id.value_or(0));
}

boost::asio::awaitable<void> UserCenter::get_me(http::Context& ctx) {
  const std::uint64_t user_id = ctx.principal.user_id;
  const cache::Value entry = co_await store_.get(user_id);
  if (!entry) {
    throw http::Error::not_found("user not found");
  }
  http::respond_with_etag(ctx, decoded(entry).private_body);
}

boost::asio::awaitable<void> UserCenter::get_user(http::Context& ctx) {
  const std::optional<std::uint64_t> user_id = parse_id(ctx.param("id"));
  if (!user_id) {
    throw http::Error::not_found("user not found");
  }
  const cache::Value entry = co_await store_.get(*user_id);
  if (!entry) {
    throw http::Error::not_found("user not found");
  }
  http::respond_with_etag(ctx, decoded(entry).public_body);
}

boost::asio::awaitable<void> UserCenter::patch_me(http::Context& ctx) {
  const std::uint64_t user_id = ctx.principal.user_id;
  Patch patch = parse_patch(ctx.request.body);
  std::string body;
  if (patch.empty()) {
    const cache::Value entry = co_await store_.get(user_id);
    if (!entry) {
      throw http::Error::not_found("user not found");
    }
    body = std::string(decoded(entry).private_body);
  } else {
    const std::optional<Profile> updated = co_await store_.update(user_id, std::move(patch));
    if (!updated) {
      throw http::Error::not_found("user not found");
    }
    body = render_private(*updated);
  }
  ctx.response.set("ETag", http::make_etag(body));
  ctx.response.json(http::Status::kOk, body);
}

}  // namespace surge::profile
