#include "signin/signin.hpp"

#include <chrono>
#include <string>
#include <utility>

#include "http/context.hpp"
#include "http/error.hpp"
#include "log/log.hpp"
#include "pg/error.hpp"
#include "pg/params.hpp"
#include "profile/keys.hpp"

namespace surge::signin {

namespace {

// ===========================================================================
// SQL. Parameters: $1 user id, $2 time zone; the award adds $3 base points,
// $4 bonus per streak day, $5 bonus cap in days.
// ===========================================================================

// Inserts today's row if there is none and, only then, adds its points.
// Returns one row (the points) when this statement awarded, none otherwise.
// `before` counts the streak ending yesterday, reading at most $5 rows: the
// bonus is capped there.
constexpr const char* kAward = R"sql(
WITH today AS (
  SELECT (now() AT TIME ZONE $2::text)::date AS d
), before AS (
  SELECT count(*) AS n
  FROM (
    SELECT s.day, row_number() OVER (ORDER BY s.day DESC) AS rn
    FROM signins s, today
    WHERE s.user_id = $1::bigint AND s.day < today.d
    ORDER BY s.day DESC
    LIMIT $5::integer
  ) r, today
  WHERE r.day = today.d - r.rn::integer
), ins AS (
  INSERT INTO signins (user_id, day, points)
  SELECT $1::bigint, today.d, $3::integer + $4::integer * before.n::integer
  FROM today, before
  ON CONFLICT (user_id, day) DO NOTHING
  RETURNING points
)
UPDATE users SET total_points = users.total_points + ins.points, updated_at = now()
FROM ins
WHERE users.id = $1::bigint
RETURNING ins.points
)sql";

// The user's status today; no row when the user does not exist. In the
// award's transaction it sees the award (or the concurrent one that won).
// The streak: rows numbered newest first are consecutive days exactly while
// day = newest − (rn − 1), a prefix of the list.
constexpr const char* kStatus = R"sql(
WITH today AS (
  SELECT (now() AT TIME ZONE $2::text)::date AS d
), recent AS (
  SELECT s.day, row_number() OVER (ORDER BY s.day DESC) AS rn
  FROM signins s, today
  WHERE s.user_id = $1::bigint AND s.day <= today.d
), newest AS (
  SELECT max(day) AS day FROM recent
)
SELECT to_char(today.d, 'YYYY-MM-DD') AS date,
       COALESCE(newest.day = today.d, false) AS signed_in_today,
       (SELECT count(*) FROM recent
        WHERE newest.day >= today.d - 1
          AND recent.day = newest.day - (recent.rn - 1)::integer) AS streak_days,
       u.total_points,
       COALESCE((SELECT string_agg(extract(day FROM s.day)::integer::text, ',' ORDER BY s.day)
                 FROM signins s
                 WHERE s.user_id = $1::bigint
                   AND s.day >= date_trunc('month', today.d)::date
                   AND s.day <= today.d), '') AS month_days,
       extract(epoch FROM ((today.d + 1)::timestamp AT TIME ZONE $2::text))::bigint AS day_ends_at
FROM today, newest, users u
WHERE u.id = $1::bigint
)sql";

Status status_from_row(const pg::Result& r) {
  Status s;
  s.date = r.get<std::string>(0, 0);
  s.signed_in_today = r.get<bool>(0, 1);
  s.streak_days = r.get<std::int64_t>(0, 2);
  s.total_points = r.get<std::int64_t>(0, 3);
  std::optional<std::vector<int>> days = parse_days(r.text(0, 4));
  if (!days) {
    throw std::runtime_error("signin: malformed month_days from the database");
  }
  s.month_days = std::move(*days);
  s.day_ends_at = r.get<std::int64_t>(0, 5);
  return s;
}

std::string status_key(std::uint64_t user_id) {
  return profile::user_key(user_id, ":signin");
}

std::int64_t system_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

SignIn::SignIn(pg::Cluster& db, redis::Shards* shards, profile::ProfileStore& profiles,
               Settings settings, metrics::Registry& registry, Clock clock)
    : db_(db),
      shards_(shards),
      profiles_(profiles),
      settings_(std::move(settings)),
      clock_(clock ? std::move(clock) : Clock(system_now)),
      awards_(registry.counter("surge_signin_awards_total", "Sign-ins that awarded points.")),
      points_(registry.counter("surge_signin_points_awarded_total", "Points awarded by sign-ins.")),
      fast_signin_(registry.counter("surge_signin_fast_path_total",
                                    "Sign-in requests answered from the user's cache shard.",
                                    {{"op", "signin"}})),
      fast_status_(registry.counter("surge_signin_fast_path_total",
                                    "Sign-in requests answered from the user's cache shard.",
                                    {{"op", "status"}})),
      repeats_(registry.counter("surge_signin_repeats_total",
                                "Repeated sign-ins of a day decided by the database.")),
      cache_errors_(registry.counter("surge_signin_cache_errors_total",
                                     "Redis errors of the sign-in module (degraded to the "
                                     "database).")) {
  validate(settings_);
}

// ===========================================================================
// Domain
// ===========================================================================

boost::asio::awaitable<std::optional<Status>> SignIn::cached(std::uint64_t user_id,
                                                             bool for_signin) {
  if (shards_ == nullptr) {
    co_return std::nullopt;
  }
  const std::string key = status_key(user_id);
  const std::size_t shard = shards_->shard_for(user_id);
  std::optional<std::string> text;
  try {
    redis::Reply reply = co_await shards_->command(shard, {"GET", key});
    text = reply.as_optional_string();
  } catch (const redis::Error&) {
    cache_errors_.add();
    co_return std::nullopt;
  }
  if (!text) {
    co_return std::nullopt;
  }
  std::optional<Status> status = decode_status(*text);
  if (!status || !still_today(*status, clock_(), settings_.day_end_margin)) {
    co_return std::nullopt;
  }
  (for_signin ? fast_signin_ : fast_status_).add();
  co_return status;
}

boost::asio::awaitable<void> SignIn::store(std::uint64_t user_id, Status status,
                                           bool only_if_absent) {
  if (shards_ == nullptr || !status.signed_in_today) {
    co_return;
  }
  const std::int64_t expires_at = status.day_ends_at - settings_.day_end_margin.count();
  if (expires_at <= clock_()) {
    co_return;  // the day is (nearly) over: let the database answer
  }
  const std::string key = status_key(user_id);
  const std::string value = encode_status(status);
  const std::size_t shard = shards_->shard_for(user_id);
  try {
    if (only_if_absent) {
      co_await shards_->command(shard, {"SET", key, value, "NX", "EXAT", expires_at});
    } else {
      co_await shards_->command(shard, {"SET", key, value, "EXAT", expires_at});
    }
  } catch (const redis::Error&) {
    cache_errors_.add();
  }
}

boost::asio::awaitable<std::optional<SignIn::Outcome>> SignIn::sign_in(std::uint64_t user_id) {
  std::optional<Status> known = co_await cached(user_id, true);
  if (known) {
    co_return Outcome{std::move(*known), 0};
  }

  pg::Statement award(kAward,
                      pg::params(user_id, settings_.time_zone, settings_.base_points,
                                 settings_.streak_bonus_points, settings_.streak_bonus_max_days));
  pg::Statement read(kStatus, pg::params(user_id, settings_.time_zone));
  pg::WriteResult written;
  try {
    written = co_await db_.transaction(std::move(award), std::move(read));
  } catch (const pg::Error& e) {
    if (e.error_class() != pg::Error::Class::kForeignKeyViolation) {
      throw;
    }
    written.results.clear();  // no such user
  }
  if (written.results.size() != 2 || written.results[1].empty()) {
    co_return std::nullopt;
  }

  Outcome outcome;
  outcome.status = status_from_row(written.results[1]);
  if (!written.results[0].empty()) {
    outcome.awarded_points = written.results[0].get<std::int64_t>(0, 0);
    awards_.add();
    points_.add(static_cast<std::uint64_t>(outcome.awarded_points));
    // total_points and level changed: fresh on every server before we answer.
    co_await profiles_.after_write(user_id, written.lsn);
    co_await store(user_id, outcome.status, false);
  } else {
    repeats_.add();
    co_await store(user_id, outcome.status, true);
  }
  co_return outcome;
}

boost::asio::awaitable<std::optional<Status>> SignIn::status(std::uint64_t user_id) {
  std::optional<Status> known = co_await cached(user_id, false);
  if (known) {
    co_return known;
  }
  const pg::Lsn min_lsn = co_await profiles_.read_min_lsn(user_id);
  pg::Params args = pg::params(user_id, settings_.time_zone);
  const pg::Result rows = co_await db_.read(kStatus, std::move(args), min_lsn);
  if (rows.empty()) {
    co_return std::nullopt;
  }
  Status status = status_from_row(rows);
  co_await store(user_id, status, true);
  co_return status;
}

boost::asio::awaitable<bool> SignIn::forget(std::uint64_t user_id) {
  if (shards_ == nullptr) {
    co_return true;
  }
  const std::string key = status_key(user_id);
  const std::size_t shard = shards_->shard_for(user_id);
  try {
    co_await shards_->command(shard, {"DEL", key});
  } catch (const redis::Error&) {
    cache_errors_.add();
    co_return false;
  }
  co_return true;
}

// ===========================================================================
// Routes: parse → domain → map
// ===========================================================================

void SignIn::add_routes(http::Router& router) {
  router.add({http::Method::kPost, "/api/v1/signin", http::Auth::kUser,
              http::AsyncHandler([this](http::Context& ctx) { return post(ctx); })});
  router.add({http::Method::kGet, "/api/v1/signin", http::Auth::kUser,
              http::AsyncHandler([this](http::Context& ctx) { return get(ctx); })});
}

void SignIn::register_admin_scopes(profile::CacheAdmin& admin) {
  admin.register_scope("user", profile::CacheAdmin::IdRule::kRequired,
                       [this](std::optional<std::uint64_t> id) { return forget_scope(id); });
}

boost::asio::awaitable<bool> SignIn::forget_scope(std::optional<std::uint64_t> id) {
  co_return co_await forget(id.value_or(0));
}

boost::asio::awaitable<void> SignIn::post(http::Context& ctx) {
  const std::optional<Outcome> outcome = co_await sign_in(ctx.principal.user_id);
  if (!outcome) {
    throw http::Error::not_found("user not found");
  }
  ctx.response.json(http::Status::kOk, render_signin(outcome->status, outcome->awarded_points));
}

boost::asio::awaitable<void> SignIn::get(http::Context& ctx) {
  const std::optional<Status> status = co_await this->status(ctx.principal.user_id);
  if (!status) {
    throw http::Error::not_found("user not found");
  }
  ctx.response.json(http::Status::kOk, render_status(*status));
}

}  // namespace surge::signin
