#pragma once

// Daily sign-in (API.md §3; DESIGN.md "Daily sign-in").
//
//   POST /api/v1/signin  kUser  200 {"date","awarded_points","already_signed_in",
//                                    "streak_days","total_points","month_days"}
//   GET  /api/v1/signin  kUser  200 {"date","signed_in_today","streak_days",
//                                    "total_points","month_days"}
//
// sign_in(user):
//   1. Fast path: GET user:{id}:signin on the user's shard. Present (and its
//      day not over by this server's clock) = "already signed in today":
//      answered from it, awarded 0. Nothing else is ever decided in Redis.
//   2. Otherwise ONE primary transaction, one round trip:
//        WITH ... INSERT INTO signins (user_id, day, points)
//                 ON CONFLICT (user_id, day) DO NOTHING RETURNING points
//        UPDATE users SET total_points = total_points + ins.points FROM ins
//      (the points are added only if this transaction inserted the day's
//      row: the primary key (user_id, day) is what makes the award happen
//      once, however many requests race — concurrent inserters of the same
//      key wait for the first to commit, then do nothing), then, in the same
//      transaction, the status: today's date in the zone, streak, month
//      days, total_points, and when the day ends.
//   3. Write-through: when points were awarded, ProfileStore::after_write
//      (marker + delete the profile entry + broadcast: total_points and level
//      are fresh on every server at once); in every case the status is
//      stored as user:{id}:signin with EXAT (end of day − day_end_margin).
// status(user): the cached status if any; else one read (replica with the
//   user's read-your-writes min_lsn, or the primary) and, when signed in
//   today, the status is cached (SET NX, so it never overwrites a
//   write-through).
//
// Only "signed in today" is ever cached, and it cannot become false before
// the day ends (signins rows are never deleted by the API), so a cached
// status is never stale. The admin "user" scope deletes it as well.
//
// Degradation: with the user's shard down the fast path is skipped
// (counted) and the database decides alone; the write-through is skipped;
// status reads go to the primary (the marker is unreadable).
//
// Errors: a user id with no users row → 404 not_found (the sign-in's
// foreign key, or the status query's empty result). Database unreachable or
// timing out → 503 unavailable, Retry-After 1.
//
// Metrics:
//   surge_signin_awards_total               sign-ins that awarded points
//   surge_signin_points_awarded_total       points awarded
//   surge_signin_fast_path_total{op}        answered from Redis ("signin", "status")
//   surge_signin_repeats_total              already signed in, decided by the database
//   surge_signin_cache_errors_total         Redis errors (degraded to the database)
//
// Wiring (app/serve.cpp):
//   signin::SignIn signin(database, redis_or_null, users.store(), signin_settings, registry);
//   signin.add_routes(router);
//   signin.register_admin_scopes(admin);
//
// Thread safety: add_routes()/register_admin_scopes() before the server
// starts; everything else from any I/O thread. Lifetime: the Cluster, the
// Shards, the ProfileStore and the Registry outlive this object; it outlives
// the router.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include <boost/asio/awaitable.hpp>

#include "http/router.hpp"
#include "metrics/registry.hpp"
#include "pg/cluster.hpp"
#include "profile/cache_admin.hpp"
#include "profile/store.hpp"
#include "redis/shards.hpp"
#include "signin/status.hpp"

namespace surge::signin {

class SignIn {
 public:
  // Unix time; used only to retire a cached status at the end of its day.
  using Clock = std::function<std::int64_t()>;

  // shards may be null (no Redis). Throws std::invalid_argument on invalid
  // settings (validate()). clock empty = the system clock.
  SignIn(pg::Cluster& db, redis::Shards* shards, profile::ProfileStore& profiles, Settings settings,
         metrics::Registry& registry, Clock clock = {});

  void add_routes(http::Router& router);
  // Scope "user" (id required): forgets the cached status.
  void register_admin_scopes(profile::CacheAdmin& admin);

  struct Outcome {
    Status status;
    std::int64_t awarded_points = 0;  // 0: already signed in today
  };
  // nullopt: no such user. Throws pg::Error on database failures.
  boost::asio::awaitable<std::optional<Outcome>> sign_in(std::uint64_t user_id);
  boost::asio::awaitable<std::optional<Status>> status(std::uint64_t user_id);
  // Deletes the cached status; false if the shard could not be reached.
  boost::asio::awaitable<bool> forget(std::uint64_t user_id);

 private:
  boost::asio::awaitable<std::optional<Status>> cached(std::uint64_t user_id, bool for_signin);
  boost::asio::awaitable<void> store(std::uint64_t user_id, Status status, bool only_if_absent);
  boost::asio::awaitable<void> post(http::Context& ctx);
  boost::asio::awaitable<void> get(http::Context& ctx);
  boost::asio::awaitable<bool> forget_scope(std::optional<std::uint64_t> id);

  pg::Cluster& db_;
  redis::Shards* shards_;
  profile::ProfileStore& profiles_;
  Settings settings_;
  Clock clock_;
  metrics::Counter awards_;
  metrics::Counter points_;
  metrics::Counter fast_signin_;
  metrics::Counter fast_status_;
  metrics::Counter repeats_;
  metrics::Counter cache_errors_;
};

}  // namespace surge::signin
