#include "orders/orders.hpp"

#include <utility>

#include <fmt/format.h>

#include "http/context.hpp"
#include "http/error.hpp"
#include "http/etag.hpp"
#include "log/log.hpp"
#include "pg/error.hpp"
#include "pg/params.hpp"
#include "profile/db_errors.hpp"
#include "profile/keys.hpp"
#include "profile/markers.hpp"
#include "profile/profile.hpp"

namespace surge::orders {

namespace {

// ===========================================================================
// SQL. PostgreSQL renders the order (see orders.hpp).
// ===========================================================================

// A macro, not a constant: it is pasted into SQL literals at compile time.
// NOLINTNEXTLINE(cppcoreguidelines-macro-usage)
#define SURGE_ORDER_JSON                                                                       \
  "json_build_object('id', o.id, 'status', o.status, 'total_cents', o.total_cents, "           \
  "'items', COALESCE((SELECT json_agg(json_build_object('product_id', i.product_id, "          \
  "'quantity', i.quantity, 'price_cents', i.price_cents) ORDER BY i.product_id) "              \
  "FROM order_items i WHERE i.order_id = o.id), '[]'::json), "                                 \
  "'created_at', to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), " \
  "'source', o.source)::text"

constexpr const char* kSelectOrder =
    "SELECT " SURGE_ORDER_JSON " FROM orders o WHERE o.id = $1 AND o.user_id = $2";
constexpr const char* kSelectByKey =
    "SELECT o.request_hash, " SURGE_ORDER_JSON
    " FROM orders o WHERE o.user_id = $1 AND o.idempotency_key = $2";
// Newest first; LIMIT page_size + 1 tells has_more. Index orders_user_id_id_idx.
// The subquery pages first, so the skipped rows' items are never rendered
// (src/orders/README.md has the plans).
constexpr const char* kSelectPage =
    "SELECT " SURGE_ORDER_JSON
    " FROM (SELECT * FROM orders WHERE user_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3) o"
    " ORDER BY o.id DESC";

#undef SURGE_ORDER_JSON

// No row when the user does not exist: a token is only a signature, and
// anyone holding the secret may mint one for any id (API.md §1). orders has
// no foreign key to users (see migrations/0001_init.sql), so without this an
// order could be placed for an id that a later registration then inherits.
constexpr const char* kInsertOrder =
    "INSERT INTO orders (user_id, status, total_cents, source, idempotency_key, request_hash) "
    "SELECT $1, 'created', 0, 'checkout', $2, $3 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1) "
    "RETURNING id";
constexpr const char* kTakeStock =
    "UPDATE products SET stock = stock - $2, updated_at = now() "
    "WHERE id = $1 AND stock >= $2 RETURNING price_cents";
constexpr const char* kProductExists = "SELECT 1 FROM products WHERE id = $1";

constexpr std::string_view kIdempotencyConstraint = "orders_user_id_idempotency_key_key";

// KEYS[1] = page 1, KEYS[2] = the user's marker; ARGV = body, TTL seconds,
// fence ("" = no marker). See profile/fenced_remote_cache.cpp.
constexpr std::string_view kFillLua = R"lua(
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
)lua";

// The total update and the item rows in one statement:
//   WITH t AS (UPDATE orders SET total_cents = $2 WHERE id = $1)
//   INSERT INTO order_items (...) VALUES ($1, $3, $4, $5), ($1, $6, $7, $8) ...
std::string items_sql(std::size_t count) {
  std::string sql =
      "WITH t AS (UPDATE orders SET total_cents = $2 WHERE id = $1) "
      "INSERT INTO order_items (order_id, product_id, quantity, price_cents) VALUES ";
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t p = 3 + 3 * i;
    fmt::format_to(std::back_inserter(sql), "{}($1, ${}, ${}, ${})", i > 0 ? ", " : "", p, p + 1,
                   p + 2);
  }
  return sql;
}

std::string page_body(http::Page page, const pg::Result& rows) {
  const bool has_more = rows.rows() > page.size;
  const std::size_t shown = has_more ? page.size : rows.rows();
  std::string body =
      fmt::format(R"({{"page":{},"page_size":{},"orders":[)", page.number, page.size);
  for (std::size_t i = 0; i < shown; ++i) {
    if (i > 0) {
      body += ',';
    }
    body += rows.text(i, 0);
  }
  fmt::format_to(std::back_inserter(body), R"(],"has_more":{}}})", has_more);
  return body;
}

http::Error key_reused() {
  return {http::Status::kUnprocessableEntity, "idempotency_key_reused",
          "Idempotency-Key already used with a different body"};
}

bool is_key_conflict(const pg::Error& e) {
  return e.error_class() == pg::Error::Class::kUniqueViolation &&
         e.constraint() == kIdempotencyConstraint;
}

// Outcome of one attempt at the transaction.
enum class Attempt : unsigned char { kDone, kKeyConflict, kUnknownProduct, kNoStock, kTooLarge };

}  // namespace

std::string page1_key(std::uint64_t user_id) {
  return profile::user_key(user_id, ":orders:page1");
}

Orders::Orders(pg::Cluster& db, redis::Shards* shards, profile::ProfileStore& profiles,
               Settings settings, metrics::Registry& registry, StockChanged stock_changed)
    : db_(db),
      shards_(shards),
      profiles_(profiles),
      settings_(settings),
      stock_changed_(std::move(stock_changed)),
      fill_script_(std::string(kFillLua)),
      created_(registry.counter("surge_orders_created_total", "Checkout orders created.")),
      replays_(registry.counter("surge_orders_replays_total",
                                "Order placements answered with the first order of their "
                                "Idempotency-Key.")),
      rejected_stock_(registry.counter("surge_orders_rejected_total", "Order placements refused.",
                                       {{"reason", "insufficient_stock"}})),
      rejected_unknown_(registry.counter("surge_orders_rejected_total", "Order placements refused.",
                                         {{"reason", "unknown_product"}})),
      rejected_reused_(registry.counter("surge_orders_rejected_total", "Order placements refused.",
                                        {{"reason", "idempotency_key_reused"}})),
      page1_hits_(registry.counter("surge_orders_page1_total",
                                   "Order list page 1 requests by cache outcome.",
                                   {{"result", "hit"}})),
      page1_misses_(registry.counter("surge_orders_page1_total",
                                     "Order list page 1 requests by cache outcome.",
                                     {{"result", "miss"}})),
      page1_errors_(registry.counter("surge_orders_page1_total",
                                     "Order list page 1 requests by cache outcome.",
                                     {{"result", "error"}})) {}

// ===========================================================================
// Placement
// ===========================================================================

boost::asio::awaitable<std::optional<Orders::Placed>> Orders::replay(std::uint64_t user_id,
                                                                     std::string key,
                                                                     std::string hash) {
  pg::Params args = pg::params(user_id, key);
  const pg::Result rows = co_await db_.read(kSelectByKey, std::move(args), pg::kPrimaryLsn);
  if (rows.empty()) {
    co_return std::nullopt;
  }
  if (rows.is_null(0, 0) || rows.text(0, 0) != hash) {
    rejected_reused_.add();
    throw key_reused();
  }
  replays_.add();
  co_return Placed{rows.get<std::string>(0, 1), false};
}

boost::asio::awaitable<Orders::Placed> Orders::place(std::uint64_t user_id, std::vector<Item> items,
                                                     std::optional<std::string> idempotency_key) {
  const std::string hash = request_hash(items);
  // A twin may commit between our check and our insert: then the insert
  // conflicts and we answer its order. Two rounds are enough (the key's
  // order, once committed, never goes away); the third is a safety net.
  for (int round = 0; round < 3; ++round) {
    if (idempotency_key) {
      std::optional<Placed> first = co_await replay(user_id, *idempotency_key, hash);
      if (first) {
        co_return std::move(*first);
      }
    }

    Attempt attempt = Attempt::kDone;
    std::uint64_t failed_product = 0;
    std::string body;
    pg::Lsn lsn = 0;
    pg::Transaction tx = co_await db_.begin();
    try {
      pg::Params order_args = pg::params(user_id, idempotency_key, hash);
      const pg::Result inserted = co_await tx.execute(kInsertOrder, std::move(order_args));
      if (inserted.empty()) {
        co_await tx.rollback();
        throw http::Error::not_found("user not found");
      }
      const auto order_id = inserted.get<std::uint64_t>(0, 0);

      std::int64_t total = 0;
      pg::Params item_args = pg::params(order_id, std::int64_t{0});
      for (const Item& item : items) {
        pg::Params take_args = pg::params(item.product_id, item.quantity);
        const pg::Result taken = co_await tx.execute(kTakeStock, std::move(take_args));
        if (taken.empty()) {
          pg::Params exists_args = pg::params(item.product_id);
          const pg::Result exists = co_await tx.execute(kProductExists, std::move(exists_args));
          attempt = exists.empty() ? Attempt::kUnknownProduct : Attempt::kNoStock;
          failed_product = item.product_id;
          break;
        }
        const auto price = taken.get<std::int64_t>(0, 0);
        std::int64_t line = 0;
        if (__builtin_mul_overflow(price, item.quantity, &line) ||
            __builtin_add_overflow(total, line, &total)) {
          attempt = Attempt::kTooLarge;
          break;
        }
        pg::Params row = pg::params(item.product_id, item.quantity, price);
        for (pg::Param& p : row) {
          item_args.push_back(std::move(p));
        }
      }
      if (attempt == Attempt::kDone) {
        item_args[1] = std::to_string(total);
        co_await tx.execute(items_sql(items.size()), std::move(item_args));
        pg::Params select_args = pg::params(order_id, user_id);
        const pg::Result rendered = co_await tx.execute(kSelectOrder, std::move(select_args));
        body = rendered.get<std::string>(0, 0);
        lsn = co_await tx.commit();
      }
    } catch (const pg::Error& e) {
      // The transaction is rolled back already (pg::Transaction's rule).
      if (!is_key_conflict(e)) {
        throw;
      }
      attempt = Attempt::kKeyConflict;
    }

    switch (attempt) {
      case Attempt::kDone:
        break;
      case Attempt::kKeyConflict:
        continue;  // the winner has committed: round 2 answers its order
      case Attempt::kUnknownProduct:
        co_await tx.rollback();
        rejected_unknown_.add();
        throw http::Error::not_found(fmt::format("product {} not found", failed_product));
      case Attempt::kNoStock:
        co_await tx.rollback();
        rejected_stock_.add();
        throw http::Error(http::Status::kConflict, "insufficient_stock",
                          fmt::format("product {}: not enough stock", failed_product));
      case Attempt::kTooLarge:
        co_await tx.rollback();
        throw http::Error::invalid_request("items", "the order total exceeds 2^63-1 cents");
    }

    created_.add();
    std::vector<std::string> keys{page1_key(user_id)};
    co_await profiles_.mark_write(user_id, lsn, std::move(keys));
    if (stock_changed_) {
      std::vector<std::uint64_t> ids;
      ids.reserve(items.size());
      for (const Item& item : items) {
        ids.push_back(item.product_id);
      }
      co_await stock_changed_(std::move(ids));
    }
    co_return Placed{std::move(body), true};
  }
  throw http::Error::unavailable("order placement contended, retry", profile::kDatabaseRetryAfter);
}

// ===========================================================================
// Reads
// ===========================================================================

boost::asio::awaitable<std::string> Orders::read_page(std::uint64_t user_id, http::Page page,
                                                      pg::Lsn min_lsn) {
  pg::Params args = pg::params(user_id, page.size + 1, page.offset());
  const pg::Result rows = co_await db_.read(kSelectPage, std::move(args), min_lsn);
  co_return page_body(page, rows);
}

boost::asio::awaitable<std::string> Orders::page1(std::uint64_t user_id) {
  const http::Page first{1, settings_.default_page_size};
  const std::string key = page1_key(user_id);
  const std::size_t shard = shards_->shard_for(user_id);
  try {
    redis::Reply reply = co_await shards_->command(shard, {"GET", key});
    if (!reply.is_nil()) {
      page1_hits_.add();
      co_return std::move(reply.as_string());
    }
    page1_misses_.add();
  } catch (const redis::Error&) {
    page1_errors_.add();
  }
  const profile::SharedMarkers::Observed seen = co_await profiles_.observe(user_id);
  std::string body = co_await read_page(user_id, first, seen.min_lsn);
  if (seen.fence != profile::kNoFill) {
    std::vector<std::string> keys{key, profile::marker_key(user_id)};
    std::vector<std::string> args{body, std::to_string(settings_.page1_ttl.count()), seen.fence};
    redis::Args key_args(std::move(keys));
    redis::Args arg_args(std::move(args));
    try {
      co_await shards_->eval(shard, fill_script_, key_args, arg_args);
    } catch (const redis::Error&) {
      page1_errors_.add();
    }
  }
  co_return body;
}

boost::asio::awaitable<std::string> Orders::list(std::uint64_t user_id, http::Page page) {
  if (shards_ != nullptr && page.number == 1 && page.size == settings_.default_page_size) {
    co_return co_await page1(user_id);
  }
  const pg::Lsn min_lsn = co_await profiles_.read_min_lsn(user_id);
  co_return co_await read_page(user_id, page, min_lsn);
}

boost::asio::awaitable<std::optional<std::string>> Orders::get(std::uint64_t user_id,
                                                               std::uint64_t order_id) {
  const pg::Lsn min_lsn = co_await profiles_.read_min_lsn(user_id);
  pg::Params args = pg::params(order_id, user_id);
  const pg::Result rows = co_await db_.read(kSelectOrder, std::move(args), min_lsn);
  if (rows.empty()) {
    co_return std::nullopt;
  }
  co_return rows.get<std::string>(0, 0);
}

// ===========================================================================
// Routes: parse → domain → map
// ===========================================================================

void Orders::add_routes(http::Router& router) {
  router.add({http::Method::kPost, "/api/v1/orders", http::Auth::kUser,
              http::AsyncHandler([this](http::Context& ctx) { return post(ctx); })});
  router.add({http::Method::kGet, "/api/v1/orders", http::Auth::kUser,
              http::AsyncHandler([this](http::Context& ctx) { return get_list(ctx); })});
  router.add({http::Method::kGet, "/api/v1/orders/{id}", http::Auth::kUser,
              http::AsyncHandler([this](http::Context& ctx) { return get_one(ctx); })});
}

boost::asio::awaitable<void> Orders::post(http::Context& ctx) {
  std::optional<std::string> key = checked_idempotency_key(ctx.request.header("Idempotency-Key"));
  std::vector<Item> items = parse_items(ctx.request.body);
  const Placed placed = co_await place(ctx.principal.user_id, std::move(items), std::move(key));
  ctx.response.json(placed.created ? http::Status::kCreated : http::Status::kOk, placed.body);
}

boost::asio::awaitable<void> Orders::get_list(http::Context& ctx) {
  const http::Page page =
      http::parse_page(ctx.request, settings_.default_page_size, settings_.max_page_size);
  const std::string body = co_await list(ctx.principal.user_id, page);
  http::respond_with_etag(ctx, body);
}

boost::asio::awaitable<void> Orders::get_one(http::Context& ctx) {
  const std::optional<std::uint64_t> id = profile::parse_id(ctx.param("id"));
  if (!id) {
    throw http::Error::not_found("order not found");
  }
  const std::optional<std::string> body = co_await get(ctx.principal.user_id, *id);
  if (!body) {
    throw http::Error::not_found("order not found");
  }
  http::respond_with_etag(ctx, *body);
}

}  // namespace surge::orders
