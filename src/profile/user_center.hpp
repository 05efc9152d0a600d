#pragma once

// The user center's routes (API.md §2), thin: parse → ProfileStore → map.
//
//   GET   /api/v1/me          kUser  200 profile, ETag (304 on If-None-Match)
//   PATCH /api/v1/me          kUser  {"nickname"?, "avatar_url"?} → 200 profile
//   GET   /api/v1/users/{id}  kNone  200 public profile, ETag; 404 not_found
//
// Answers beyond the table (the contract leaves them to us):
// - A token whose user does not exist (deleted, or minted for a free id):
//   404 not_found on /me.
// - {id} that is not a canonical positive 64-bit decimal ("0", "-1", "007",
//   "abc", 2^63): 404 not_found, like any unknown user.
// - PATCH body: a JSON object; only "nickname" and "avatar_url" (any other
//   field → 400 naming it); each, when present, a string (null or another
//   type → 400 naming it); limits in profile.hpp. {} changes nothing and
//   answers the current profile. PATCH answers carry the ETag the next GET
//   will have.
// - Database unreachable or timing out: 503 unavailable, Retry-After: 1.
//
// Wiring (app/serve.cpp):
//   profile::UserCenter users(database, redis_or_null, profile_settings, registry);
//   profile::CacheAdmin admin(registry);
//   users.add_routes(router);
//   users.register_admin_scopes(admin);   // scope "user"
//   ... other modules register theirs ...
//   admin.add_routes(router);
//
// Thread safety: add_routes()/register_admin_scopes() before the server
// starts; handlers run on any I/O thread. Lifetime: outlives the router.

#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "http/router.hpp"
#include "metrics/registry.hpp"
#include "pg/cluster.hpp"
#include "profile/cache_admin.hpp"
#include "profile/store.hpp"
#include "redis/shards.hpp"

namespace surge::profile {

// Parses and validates a PATCH /api/v1/me body; throws http::Error 400
// invalid_request naming the offending field.
Patch parse_patch(std::string_view body);

class UserCenter {
 public:
  // shards may be null (no Redis configured).
  UserCenter(pg::Cluster& db, redis::Shards* shards, const Settings& settings,
             metrics::Registry& registry);

  void add_routes(http::Router& router);
  // Scope "user" (id required): drops every cached copy of the profile.
  void register_admin_scopes(CacheAdmin& admin);

  // For other modules (sign-in, accounts): writes that change a profile go
  // through store().after_write().
  ProfileStore& store() noexcept { return store_; }

 private:
  boost::asio::awaitable<void> get_me(http::Context& ctx);
  boost::asio::awaitable<void> patch_me(http::Context& ctx);
  boost::asio::awaitable<void> get_user(http::Context& ctx);
  boost::asio::awaitable<bool> invalidate_user(std::optional<std::uint64_t> id);

  ProfileStore store_;
};

}  // namespace surge::profile
