#include "flashsales/flashsales.hpp"

#include <algorithm>
#include <exception>
#include <string>
#include <utility>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "campaigns/http_support.hpp"
#include "campaigns/time.hpp"
#include "flashsales/hot.hpp"
#include "http/context.hpp"
#include "http/error.hpp"
#include "http/etag.hpp"
#include "http/json_body.hpp"
#include "log/log.hpp"
#include "orders/request.hpp"
#include "pg/params.hpp"

namespace surge::flashsales {

namespace {

// ===========================================================================
// SQL
// ===========================================================================

// No row when the product does not exist.
constexpr const char* kCreate = R"sql(
INSERT INTO flashsales (product_id, stock, price_cents, per_user_limit, starts_at, ends_at)
SELECT p.id, $2::integer, $3::bigint, $4::integer, to_timestamp($5::bigint / 1000.0),
       to_timestamp($6::bigint / 1000.0)
FROM products p WHERE p.id = $1::bigint
RETURNING id
)sql";

// Undoes kCreate (the preload failed).
constexpr const char* kForget = "DELETE FROM flashsales WHERE id = $1::bigint";

constexpr const char* kGet = R"sql(
SELECT id, product_id, stock, price_cents, per_user_limit,
       (extract(epoch FROM starts_at) * 1000)::bigint,
       (extract(epoch FROM ends_at) * 1000)::bigint
FROM flashsales WHERE id = $1::bigint
)sql";

constexpr const char* kPersistedUnits = R"sql(
SELECT COALESCE(sum(quantity), 0)::bigint FROM flashsale_orders WHERE flashsale_id = $1::bigint
)sql";

constexpr const char* kOrderStatus = R"sql(
SELECT user_id, status, order_id FROM flashsale_orders WHERE order_ref = $1::text
)sql";

constexpr const char* kConfirmed = R"sql(
SELECT EXISTS (SELECT 1 FROM flashsales WHERE id = $1::bigint),
       COALESCE(sum(quantity) FILTER (WHERE status = 'confirmed'), 0)::bigint
FROM flashsale_orders WHERE flashsale_id = $1::bigint
)sql";

constexpr std::array<const char*, 9> kOutcomeNames = {"reserved",
                                                      "repeated",
                                                      "unknown",
                                                      "not_started",
                                                      "ended",
                                                      "sold_out",
                                                      "limit_exceeded",
                                                      "idempotency_key_reused",
                                                      "insufficient_stock"};

struct Sale {
  std::int64_t id = 0;
  std::int64_t product_id = 0;
  std::int64_t stock = 0;
  std::int64_t price_cents = 0;
  std::int64_t per_user_limit = 0;
  std::int64_t starts_ms = 0;
  std::int64_t ends_ms = 0;
};

std::string render(const Sale& s, std::int64_t remaining) {
  boost::json::object o;
  o.emplace("id", s.id);
  o.emplace("product_id", s.product_id);
  o.emplace("stock", s.stock);
  o.emplace("remaining", remaining);
  o.emplace("price_cents", s.price_cents);
  o.emplace("per_user_limit", s.per_user_limit);
  o.emplace("starts_at", campaigns::format_rfc3339(s.starts_ms));
  o.emplace("ends_at", campaigns::format_rfc3339(s.ends_ms));
  o.emplace("status",
            campaigns::campaign_status(campaigns::now_ms(), s.starts_ms, s.ends_ms, remaining));
  return boost::json::serialize(o);
}

boost::asio::awaitable<std::optional<std::int64_t>> live_remaining(redis::Shards& shards,
                                                                   std::uint64_t id) {
  const std::optional<Counts> live = co_await counts(shards, id);
  co_return live ? std::optional(live->remaining) : std::nullopt;
}

}  // namespace

FlashSales::FlashSales(pg::Cluster& db, redis::Shards* shards, metrics::Registry& registry,
                       std::chrono::seconds hot_retention)
    : db_(db), shards_(shards), hot_retention_(hot_retention) {
  for (std::size_t i = 0; i < orders_.size(); ++i) {
    orders_[i] =
        registry.counter("surge_flashsale_orders_total", "Flash-sale order requests by outcome.",
                         {{"outcome", kOutcomeNames[i]}});
  }
}

void FlashSales::add_routes(http::Router& router) {
  router.add({http::Method::kPost, "/api/v1/admin/flashsales", http::Auth::kAdmin,
              http::AsyncHandler([this](http::Context& ctx) { return create(ctx); })});
  router.add({http::Method::kGet, "/api/v1/flashsales/{id}", http::Auth::kNone,
              http::AsyncHandler([this](http::Context& ctx) { return get(ctx); })});
  router.add({http::Method::kPost, "/api/v1/flashsales/{id}/orders", http::Auth::kUser,
              http::AsyncHandler([this](http::Context& ctx) { return order(ctx); })});
  router.add({http::Method::kGet, "/api/v1/flashsale-orders/{ref}", http::Auth::kUser,
              http::AsyncHandler([this](http::Context& ctx) { return order_status(ctx); })});
  router.add({http::Method::kGet, "/api/v1/admin/flashsales/{id}/summary", http::Auth::kAdmin,
              http::AsyncHandler([this](http::Context& ctx) { return summary(ctx); })});
}

boost::asio::awaitable<void> FlashSales::create(http::Context& ctx) {
  const http::JsonBody body(ctx.request);
  Sale s;
  s.product_id = body.required_int("product_id");
  s.stock = body.required_int("stock");
  s.price_cents = body.required_int("price_cents");
  s.per_user_limit = body.required_int("per_user_limit");
  const auto [starts, ends] = campaigns::window_of(body);
  s.starts_ms = starts;
  s.ends_ms = ends;
  if (s.product_id <= 0) {
    throw http::Error::invalid_request("product_id", "must be a positive integer");
  }
  // A sale of nothing is a mistake, as a red packet of count 0 is.
  if (s.stock < 1 || s.stock > 100'000'000) {
    throw http::Error::invalid_request("stock", "must be 1..100000000");
  }
  if (s.per_user_limit < 1 || s.per_user_limit > 1'000'000) {
    throw http::Error::invalid_request("per_user_limit", "must be 1..1000000");
  }
  // The largest order, per_user_limit units, must have a total the orders
  // table can hold: a reservation that can never become an order would
  // break "every reservation becomes exactly one confirmed order".
  std::int64_t largest_total = 0;
  if (s.price_cents < 0 ||
      __builtin_mul_overflow(s.price_cents, s.per_user_limit, &largest_total)) {
    throw http::Error::invalid_request(
        "price_cents", "must be >= 0, and price_cents x per_user_limit at most 2^63-1 cents");
  }
  redis::Shards& shards = campaigns::shards_or_unavailable(shards_);
  pg::Params args =
      pg::params(s.product_id, s.stock, s.price_cents, s.per_user_limit, starts, ends);
  const pg::Result rows = co_await db_.write(kCreate, std::move(args));
  if (rows.empty()) {
    throw http::Error::not_found("no such product");
  }
  s.id = rows.get<std::int64_t>(0, 0);
  std::exception_ptr not_loaded;
  try {
    const std::int64_t expires = campaigns::hot_expiry_ms(s.ends_ms, hot_retention_);
    Meta meta{s.starts_ms,   s.ends_ms,    s.stock, s.per_user_limit,
              s.price_cents, s.product_id, expires};
    co_await preload(shards, static_cast<std::uint64_t>(s.id), meta);
  } catch (const std::exception&) {
    not_loaded = std::current_exception();
  }
  if (not_loaded) {
    // A sale nobody can order from must not exist: the client was told it
    // was not created (503). (Await is not allowed in a handler.)
    co_await forget(shards, static_cast<std::uint64_t>(s.id));
    std::rethrow_exception(not_loaded);  // a shard that is down: the dispatcher's 503
  }
  if (publish_) {
    co_await publish_();  // the published campaigns list it
  }
  ctx.response.json(http::Status::kCreated, render(s, s.stock));
}

boost::asio::awaitable<void> FlashSales::forget(redis::Shards& shards, std::uint64_t id) {
  try {
    co_await db_.write(kForget, pg::params(id));
  } catch (const std::exception& e) {
    log::error("flash sale not loaded and not deleted", {{"id", id}, {"error", e.what()}});
  }
  // Best effort: only a preload whose EXEC ran but whose answer was lost
  // left keys behind, and the shard is usually the one that failed.
  try {
    co_await shards.command(shards.shard_for(id), {"DEL", meta_key(id), users_key(id), refs_key(id),
                                                   idem_key(id), failed_key(id)});
  } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): see above
  }
}

boost::asio::awaitable<void> FlashSales::get(http::Context& ctx) {
  const std::uint64_t id = campaigns::path_id(ctx.param("id"));
  const pg::Result rows = co_await campaigns::campaign_row(db_, kGet, id, "no such flash sale");
  const Sale s{rows.get<std::int64_t>(0, 0), rows.get<std::int64_t>(0, 1),
               rows.get<std::int64_t>(0, 2), rows.get<std::int64_t>(0, 3),
               rows.get<std::int64_t>(0, 4), rows.get<std::int64_t>(0, 5),
               rows.get<std::int64_t>(0, 6)};
  const std::int64_t remaining =
      co_await campaigns::remaining(db_, shards_, id, s.stock, kPersistedUnits, live_remaining);
  http::respond_with_etag(ctx, render(s, remaining));
}

boost::asio::awaitable<void> FlashSales::order(http::Context& ctx) {
  const std::uint64_t id = campaigns::path_id(ctx.param("id"));
  // API.md §6: the body is {"quantity"}; an absent body or field is a 400
  // naming it, like every required field.
  const http::JsonBody body(ctx.request);
  const std::int64_t quantity = body.required_int("quantity");
  if (quantity < 1 || quantity > 1'000'000) {
    throw http::Error::invalid_request("quantity", "must be 1..1000000");
  }
  // The same rules as for checkout orders (1..200 visible ASCII characters).
  std::string key =
      orders::checked_idempotency_key(ctx.request.header("Idempotency-Key")).value_or("");
  redis::Shards& shards = campaigns::shards_or_unavailable(shards_);
  std::string ref = make_order_ref(id);
  const Reservation r = co_await flashsales::order(shards, id, ctx.principal.user_id, quantity,
                                                   std::move(ref), std::move(key));
  orders_[static_cast<std::size_t>(r.outcome)].add();
  switch (r.outcome) {
    case Reservation::Outcome::kReserved:
    case Reservation::Outcome::kRepeated: {
      boost::json::object o;
      o.emplace("order_ref", r.order_ref);
      o.emplace("status", "queued");
      ctx.response.json(http::Status::kAccepted, boost::json::serialize(o));
      co_return;
    }
    case Reservation::Outcome::kNotStarted:
      throw campaigns::error(http::Status::kForbidden, "not_started",
                             "the flash sale has not started");
    case Reservation::Outcome::kEnded:
      throw campaigns::error(http::Status::kGone, "ended", "the flash sale has ended");
    case Reservation::Outcome::kSoldOut:
      throw campaigns::error(http::Status::kGone, "sold_out", "the flash sale is sold out");
    case Reservation::Outcome::kLimitExceeded:
      throw campaigns::error(http::Status::kConflict, "limit_exceeded",
                             "this would exceed the per-user limit of the sale");
    case Reservation::Outcome::kKeyReused:
      throw campaigns::error(http::Status::kUnprocessableEntity, "idempotency_key_reused",
                             "Idempotency-Key already used with a different quantity");
    case Reservation::Outcome::kInsufficientStock:
      // API.md §6 names sold_out for an order the stock cannot serve; the
      // message tells the buyer that a smaller quantity can still be had.
      throw campaigns::error(
          http::Status::kGone, "sold_out",
          fmt::format("not enough left for this quantity: {} unit(s) remain", r.left));
    case Reservation::Outcome::kUnknown:
      break;
  }
  co_await order_from_database(id);
}

boost::asio::awaitable<void> FlashSales::order_from_database(std::uint64_t id) {
  // A replica serves: the sale is either unknown, or ended days ago
  // (retention), or lost by its shard; unknown ids must not load the
  // primary.
  const pg::Result rows = co_await db_.read(kGet, pg::params(id));
  if (rows.empty()) {
    throw http::Error::not_found("no such flash sale");
  }
  if (campaigns::now_ms() >= rows.get<std::int64_t>(0, 6)) {
    throw campaigns::error(http::Status::kGone, "ended", "the flash sale has ended");
  }
  // Not ended, yet not on its shard: the shard lost it. Only the shard can
  // decide an order without overselling. (Counted as outcome "unknown"; no
  // log line, which a storm on the sale would turn into a flood.)
  throw http::Error::unavailable("flash sale not loaded on its shard, retry later",
                                 std::chrono::seconds(1));
}

boost::asio::awaitable<void> FlashSales::order_status(http::Context& ctx) {
  const std::string ref(ctx.param("ref"));
  const std::optional<std::uint64_t> sale = sale_of_ref(ref);
  if (!sale) {
    throw http::Error::not_found("no such order");
  }
  const std::uint64_t user = ctx.principal.user_id;
  std::string status;
  std::optional<std::int64_t> order_id;
  const pg::Result rows = co_await db_.read(kOrderStatus, pg::params(ref), pg::kPrimaryLsn);
  if (!rows.empty()) {
    if (rows.get<std::uint64_t>(0, 0) != user) {
      throw http::Error::not_found("no such order");
    }
    status = rows.get<std::string>(0, 1);
    order_id = rows.get<std::optional<std::int64_t>>(0, 2);
  }
  if (status.empty()) {
    const std::optional<std::uint64_t> owner =
        co_await ref_owner(campaigns::shards_or_unavailable(shards_), *sale, ref);
    if (!owner || *owner != user) {
      throw http::Error::not_found("no such order");
    }
    // No row: either not persisted yet, or given up on without one (the
    // database refused even the 'failed' row; OrderSink::abandon).
    const bool failed = co_await ref_failed(campaigns::shards_or_unavailable(shards_), *sale, ref);
    status = failed ? "failed" : "queued";
  }
  boost::json::object o;
  o.emplace("order_ref", ref);
  o.emplace("status", status);
  if (order_id) {
    o.emplace("order_id", *order_id);
  } else {
    o.emplace("order_id", nullptr);
  }
  ctx.response.json(http::Status::kOk, boost::json::serialize(o));
}

boost::asio::awaitable<void> FlashSales::summary(http::Context& ctx) {
  const std::uint64_t id = campaigns::path_id(ctx.param("id"));
  const pg::Result rows = co_await db_.read(kConfirmed, pg::params(id), pg::kPrimaryLsn);
  if (!rows.get<bool>(0, 0)) {
    throw http::Error::not_found("no such flash sale");
  }
  const std::optional<Counts> live = co_await counts(campaigns::shards_or_unavailable(shards_), id);
  boost::json::object o;
  // No keys: they expired after the end (retention), when every
  // reservation had long become an order.
  o.emplace("reserved", live ? live->reserved : rows.get<std::int64_t>(0, 1));
  o.emplace("confirmed", rows.get<std::int64_t>(0, 1));
  ctx.response.json(http::Status::kOk, boost::json::serialize(o));
}

}  // namespace surge::flashsales
