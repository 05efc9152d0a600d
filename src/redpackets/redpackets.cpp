#include "redpackets/redpackets.hpp"

#include <algorithm>
#include <exception>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "campaigns/http_support.hpp"
#include "campaigns/time.hpp"
#include "http/context.hpp"
#include "http/error.hpp"
#include "http/etag.hpp"
#include "http/json_body.hpp"
#include "http/paging.hpp"
#include "log/log.hpp"
#include "pg/params.hpp"
#include "redpackets/hot.hpp"
#include "redpackets/split.hpp"

namespace surge::redpackets {

namespace {

// ===========================================================================
// SQL
// ===========================================================================

// Undoes kCreate (the preload failed): children first, one statement.
constexpr const char* kForget = R"sql(
WITH amounts AS (DELETE FROM redpacket_amount_lists WHERE redpacket_id = $1::bigint)
DELETE FROM redpackets WHERE id = $1::bigint
)sql";

// $1 total, $2 count, $3 starts ms, $4 ends ms, $5 the amounts (bigint[]:
// one row whatever the count, migrations/0002_redpacket_amounts_array.sql).
constexpr const char* kCreate = R"sql(
WITH rp AS (
  INSERT INTO redpackets (total_cents, count, starts_at, ends_at)
  VALUES ($1::bigint, $2::integer, to_timestamp($3::bigint / 1000.0),
          to_timestamp($4::bigint / 1000.0))
  RETURNING id
), amounts AS (
  INSERT INTO redpacket_amount_lists (redpacket_id, amounts)
  SELECT rp.id, $5::bigint[] FROM rp
)
SELECT id FROM rp
)sql";

constexpr const char* kGet = R"sql(
SELECT id, count, total_cents,
       (extract(epoch FROM starts_at) * 1000)::bigint AS starts_ms,
       (extract(epoch FROM ends_at) * 1000)::bigint AS ends_ms
FROM redpackets WHERE id = $1::bigint
)sql";

constexpr const char* kUserGrab = R"sql(
SELECT amount_cents FROM redpacket_grabs WHERE redpacket_id = $1::bigint AND user_id = $2::bigint
)sql";

constexpr const char* kPersistedCount = R"sql(
SELECT count(*) FROM redpacket_grabs WHERE redpacket_id = $1::bigint
)sql";

constexpr const char* kMine = R"sql(
SELECT redpacket_id, amount_cents, (extract(epoch FROM grabbed_at) * 1000)::bigint
FROM redpacket_grabs WHERE user_id = $1::bigint
ORDER BY grabbed_at DESC, redpacket_id DESC
LIMIT $2::bigint OFFSET $3::bigint
)sql";

constexpr const char* kPersisted = R"sql(
SELECT EXISTS (SELECT 1 FROM redpackets WHERE id = $1::bigint),
       count(*), COALESCE(sum(amount_cents), 0)::bigint
FROM redpacket_grabs WHERE redpacket_id = $1::bigint
)sql";

// Grab::Outcome → label.
constexpr std::array<const char*, 6> kOutcomeNames = {"granted",     "already_grabbed", "unknown",
                                                      "not_started", "ended",           "sold_out"};

std::mt19937_64& thread_rng() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

struct Row {
  std::int64_t id = 0;
  std::int64_t count = 0;
  std::int64_t total_cents = 0;
  std::int64_t starts_ms = 0;
  std::int64_t ends_ms = 0;
};

boost::asio::awaitable<std::optional<std::int64_t>> live_remaining(redis::Shards& shards,
                                                                   std::uint64_t id) {
  const std::optional<Counts> live = co_await counts(shards, id);
  co_return live ? std::optional(live->remaining) : std::nullopt;
}

}  // namespace

RedPackets::RedPackets(pg::Cluster& db, redis::Shards* shards, metrics::Registry& registry,
                       std::chrono::seconds hot_retention)
    : db_(db), shards_(shards), hot_retention_(hot_retention) {
  for (std::size_t i = 0; i < grabs_.size(); ++i) {
    grabs_[i] = registry.counter("surge_redpacket_grabs_total", "Red packet grabs by outcome.",
                                 {{"outcome", kOutcomeNames[i]}});
  }
}

void RedPackets::add_routes(http::Router& router) {
  router.add({http::Method::kPost, "/api/v1/admin/redpackets", http::Auth::kAdmin,
              http::AsyncHandler([this](http::Context& ctx) { return create(ctx); })});
  router.add({http::Method::kGet, "/api/v1/redpackets/{id}", http::Auth::kNone,
              http::AsyncHandler([this](http::Context& ctx) { return get(ctx); })});
  router.add({http::Method::kPost, "/api/v1/redpackets/{id}/grab", http::Auth::kUser,
              http::AsyncHandler([this](http::Context& ctx) { return grab(ctx); })});
  router.add({http::Method::kGet, "/api/v1/me/redpackets", http::Auth::kUser,
              http::AsyncHandler([this](http::Context& ctx) { return mine(ctx); })});
  router.add({http::Method::kGet, "/api/v1/admin/redpackets/{id}/summary", http::Auth::kAdmin,
              http::AsyncHandler([this](http::Context& ctx) { return summary(ctx); })});
}

boost::asio::awaitable<void> RedPackets::create(http::Context& ctx) {
  const http::JsonBody body(ctx.request);
  const std::int64_t total = body.required_int("total_cents");
  const std::int64_t count = body.required_int("count");
  const auto [starts, ends] = campaigns::window_of(body);
  if (count < 1 || count > 1'000'000) {
    throw http::Error::invalid_request("count", "must be 1..1000000");
  }
  if (total < count) {
    throw http::Error::invalid_request("total_cents", "must be at least count (1 cent each)");
  }
  redis::Shards& shards = campaigns::shards_or_unavailable(shards_);
  std::vector<std::int64_t> amounts = split(total, count, thread_rng());

  pg::Params args = pg::params(total, count, starts, ends, pg::array(amounts));
  const pg::Result rows = co_await db_.write(kCreate, std::move(args));
  const auto id = rows.get<std::uint64_t>(0, 0);
  std::exception_ptr not_loaded;
  try {
    const std::int64_t expires = campaigns::hot_expiry_ms(ends, hot_retention_);
    Meta meta{starts, ends, count, total, expires};
    co_await preload(shards, id, meta, std::move(amounts));
  } catch (const std::exception&) {
    not_loaded = std::current_exception();
  }
  if (not_loaded) {
    // A red packet nobody can grab must not exist: the client was told it
    // was not created (503), so its rows go and it never shows up in a GET
    // or the published campaigns. (Await is not allowed in a handler.)
    co_await forget(shards, id);
    std::rethrow_exception(not_loaded);  // a shard that is down: the dispatcher's 503
  }
  if (publish_) {
    co_await publish_();  // the published campaigns list it
  }
  boost::json::object o;
  o.emplace("id", id);
  o.emplace("count", count);
  o.emplace("remaining", count);
  o.emplace("total_cents", total);
  o.emplace("starts_at", campaigns::format_rfc3339(starts));
  o.emplace("ends_at", campaigns::format_rfc3339(ends));
  o.emplace("status", campaigns::campaign_status(campaigns::now_ms(), starts, ends, count));
  ctx.response.json(http::Status::kCreated, boost::json::serialize(o));
}

boost::asio::awaitable<void> RedPackets::forget(redis::Shards& shards, std::uint64_t id) {
  try {
    co_await db_.write(kForget, pg::params(id));
  } catch (const std::exception& e) {
    log::error("red packet not loaded and not deleted", {{"id", id}, {"error", e.what()}});
  }
  // Best effort: only a preload whose EXEC ran but whose answer was lost
  // left keys behind, and the shard is usually the one that failed.
  try {
    co_await shards.command(shards.shard_for(id),
                            {"DEL", meta_key(id), amounts_key(id), grabs_key(id)});
  } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): see above
  }
}

boost::asio::awaitable<void> RedPackets::get(http::Context& ctx) {
  const std::uint64_t id = campaigns::path_id(ctx.param("id"));
  const pg::Result rows = co_await campaigns::campaign_row(db_, kGet, id, "no such red packet");
  const Row row{rows.get<std::int64_t>(0, 0), rows.get<std::int64_t>(0, 1),
                rows.get<std::int64_t>(0, 2), rows.get<std::int64_t>(0, 3),
                rows.get<std::int64_t>(0, 4)};
  const std::int64_t remaining =
      co_await campaigns::remaining(db_, shards_, id, row.count, kPersistedCount, live_remaining);
  boost::json::object o;
  o.emplace("id", row.id);
  o.emplace("count", row.count);
  o.emplace("remaining", remaining);
  o.emplace("total_cents", row.total_cents);
  o.emplace("starts_at", campaigns::format_rfc3339(row.starts_ms));
  o.emplace("ends_at", campaigns::format_rfc3339(row.ends_ms));
  o.emplace("status",
            campaigns::campaign_status(campaigns::now_ms(), row.starts_ms, row.ends_ms, remaining));
  http::respond_with_etag(ctx, boost::json::serialize(o));
}

boost::asio::awaitable<void> RedPackets::grab(http::Context& ctx) {
  const std::uint64_t id = campaigns::path_id(ctx.param("id"));
  redis::Shards& shards = campaigns::shards_or_unavailable(shards_);
  const Grab g = co_await redpackets::grab(shards, id, ctx.principal.user_id);
  grabs_[static_cast<std::size_t>(g.outcome)].add();
  switch (g.outcome) {
    case Grab::Outcome::kGranted:
    case Grab::Outcome::kAlreadyGrabbed: {
      boost::json::object o;
      o.emplace("amount_cents", g.amount_cents);
      o.emplace("already_grabbed", g.outcome == Grab::Outcome::kAlreadyGrabbed);
      ctx.response.json(http::Status::kOk, boost::json::serialize(o));
      co_return;
    }
    case Grab::Outcome::kNotStarted:
      throw campaigns::error(http::Status::kForbidden, "not_started",
                             "the red packet has not started");
    case Grab::Outcome::kEnded:
      throw campaigns::error(http::Status::kGone, "ended", "the red packet has ended");
    case Grab::Outcome::kSoldOut:
      throw campaigns::error(http::Status::kGone, "sold_out", "every packet has been taken");
    case Grab::Outcome::kUnknown:
      break;
  }
  co_await grab_from_database(ctx, id);
}

boost::asio::awaitable<void> RedPackets::grab_from_database(http::Context& ctx, std::uint64_t id) {
  // A replica serves: the campaign is either unknown, or ended and
  // persisted days ago (retention), or lost by its shard; none of these
  // needs the primary, and unknown ids must not load it.
  const pg::Result rows = co_await db_.read(kGet, pg::params(id));
  if (rows.empty()) {
    throw http::Error::not_found("no such red packet");
  }
  const pg::Result mine = co_await db_.read(kUserGrab, pg::params(id, ctx.principal.user_id));
  if (!mine.empty()) {  // a repeat is answered alike, for ever
    boost::json::object o;
    o.emplace("amount_cents", mine.get<std::int64_t>(0, 0));
    o.emplace("already_grabbed", true);
    ctx.response.json(http::Status::kOk, boost::json::serialize(o));
    co_return;
  }
  if (campaigns::now_ms() >= rows.get<std::int64_t>(0, 4)) {
    throw campaigns::error(http::Status::kGone, "ended", "the red packet has ended");
  }
  // Not ended, yet not on its shard: the shard lost it. Only the shard can
  // decide a grab without overselling. (Counted as outcome "unknown"; no log
  // line, which a storm on the campaign would turn into a flood.)
  throw http::Error::unavailable("red packet not loaded on its shard, retry later",
                                 std::chrono::seconds(1));
}

boost::asio::awaitable<void> RedPackets::mine(http::Context& ctx) {
  // A list like every other (API.md §1): page and page_size, echoed; one
  // row more than the page tells whether another follows.
  const http::Page page = http::parse_page(ctx.request);
  const pg::Result rows =
      co_await db_.read(kMine, pg::params(ctx.principal.user_id, page.size + 1, page.offset()));
  const std::size_t shown = std::min<std::size_t>(rows.rows(), page.size);
  boost::json::array grabs;
  grabs.reserve(shown);
  for (std::size_t i = 0; i < shown; ++i) {
    boost::json::object g;
    g.emplace("redpacket_id", rows.get<std::int64_t>(i, 0));
    g.emplace("amount_cents", rows.get<std::int64_t>(i, 1));
    // Whole seconds, as every other time the API writes (the row keeps ms).
    const auto grabbed_ms = rows.get<std::int64_t>(i, 2);
    g.emplace("grabbed_at", campaigns::format_rfc3339(grabbed_ms - grabbed_ms % 1000));
    grabs.push_back(std::move(g));
  }
  boost::json::object o;
  o.emplace("page", page.number);
  o.emplace("page_size", page.size);
  o.emplace("grabs", std::move(grabs));
  o.emplace("has_more", rows.rows() > page.size);
  ctx.response.json(http::Status::kOk, boost::json::serialize(o));
}

boost::asio::awaitable<void> RedPackets::summary(http::Context& ctx) {
  const std::uint64_t id = campaigns::path_id(ctx.param("id"));
  const pg::Result rows = co_await db_.read(kPersisted, pg::params(id), pg::kPrimaryLsn);
  if (!rows.get<bool>(0, 0)) {
    throw http::Error::not_found("no such red packet");
  }
  const std::optional<Counts> live = co_await counts(campaigns::shards_or_unavailable(shards_), id);
  // No keys: they expired after the end (retention), and what was granted
  // is what was persisted.
  boost::json::object o;
  o.emplace("granted_count", live ? live->granted_count : rows.get<std::int64_t>(0, 1));
  o.emplace("granted_cents", live ? live->granted_cents : rows.get<std::int64_t>(0, 2));
  o.emplace("persisted_count", rows.get<std::int64_t>(0, 1));
  o.emplace("persisted_cents", rows.get<std::int64_t>(0, 2));
  ctx.response.json(http::Status::kOk, boost::json::serialize(o));
}

}  // namespace surge::redpackets
