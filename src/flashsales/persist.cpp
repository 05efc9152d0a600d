#include "flashsales/persist.hpp"

#include <algorithm>
#include <utility>

#include "flashsales/hot.hpp"
#include "log/log.hpp"
#include "pg/params.hpp"
#include "profile/keys.hpp"

namespace surge::flashsales {

namespace {

constexpr const char* kQueue = R"sql(
INSERT INTO flashsale_orders (order_ref, flashsale_id, user_id, quantity)
SELECT r.ref, r.fs, r.u, r.q
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::integer[]) AS r(ref, fs, u, q)
ON CONFLICT (order_ref) DO NOTHING
)sql";

constexpr const char* kConfirm = R"sql(
WITH q AS MATERIALIZED (
  SELECT f.order_ref, f.user_id, f.quantity, s.price_cents, s.product_id,
         nextval(pg_get_serial_sequence('orders', 'id')) AS order_id
  FROM flashsale_orders f
  JOIN flashsales s ON s.id = f.flashsale_id
  WHERE f.order_ref = ANY ($1::text[]) AND f.status = 'queued'
  FOR UPDATE OF f
), o AS (
  INSERT INTO orders (id, user_id, status, total_cents, source)
  SELECT q.order_id, q.user_id, 'created', q.price_cents * q.quantity, 'flashsale' FROM q
), i AS (
  INSERT INTO order_items (order_id, product_id, quantity, price_cents)
  SELECT q.order_id, q.product_id, q.quantity, q.price_cents FROM q
)
UPDATE flashsale_orders f SET order_id = q.order_id, status = 'confirmed'
FROM q WHERE f.order_ref = q.order_ref AND f.status = 'queued'
RETURNING f.user_id
)sql";

// The reservation's row, now 'failed' unless it was confirmed meanwhile;
// returns the row's status either way.
constexpr const char* kFail = R"sql(
WITH up AS (
  INSERT INTO flashsale_orders (order_ref, flashsale_id, user_id, quantity, status)
  VALUES ($1::text, $2::bigint, $3::bigint, $4::integer, 'failed')
  ON CONFLICT (order_ref) DO UPDATE SET status = 'failed'
  WHERE flashsale_orders.status = 'queued'
  RETURNING status
)
SELECT status FROM up
UNION ALL
SELECT status FROM flashsale_orders
WHERE order_ref = $1::text AND NOT EXISTS (SELECT 1 FROM up)
)sql";

// Errors after which the same statement may well succeed later.
bool transient(const pg::Error& e) {
  using C = pg::Error::Class;
  const C c = e.error_class();
  return c == C::kConnection || c == C::kQueryCanceled || c == C::kReadOnly ||
         c == C::kSerialization;
}

}  // namespace

OrderSink::OrderSink(pg::Cluster& db, redis::Shards& shards, metrics::Registry& registry,
                     std::chrono::seconds marker_ttl)
    : db_(db),
      shards_(shards),
      markers_(db, &shards, marker_ttl, registry),
      confirmed_(registry.counter("surge_flashsale_orders_confirmed_total",
                                  "Flash-sale reservations turned into orders.")),
      failed_(registry.counter("surge_flashsale_orders_failed_total",
                               "Flash-sale reservations given up on: status failed, units "
                               "given back.")),
      cache_errors_(registry.counter("surge_flashsale_cache_errors_total",
                                     "Failed deletes of a buyer's cached order list page 1.")) {}

std::string_view OrderSink::stream() const {
  return campaigns::kFlashsaleStream;
}

bool OrderSink::well_formed(const campaigns::Entry& e) const {
  const auto fs = e.get_int("fs");
  const auto user = e.get_int("user");
  const auto qty = e.get_int("qty");
  const auto ref = e.get("ref");
  return fs && *fs > 0 && user && *user > 0 && qty && *qty > 0 && *qty <= 1'000'000 && ref &&
         sale_of_ref(*ref) == static_cast<std::uint64_t>(*fs);
}

boost::asio::awaitable<void> OrderSink::persist(const std::vector<campaigns::Entry>& entries) {
  std::vector<std::string> refs;
  std::vector<std::int64_t> sales;
  std::vector<std::int64_t> users;
  std::vector<std::int64_t> quantities;
  for (const auto& e : entries) {
    refs.emplace_back(*e.get("ref"));
    sales.push_back(*e.get_int("fs"));
    users.push_back(*e.get_int("user"));
    quantities.push_back(*e.get_int("qty"));
  }
  pg::Statement queue(kQueue, pg::params(pg::array(refs), pg::array(sales), pg::array(users),
                                         pg::array(quantities)));
  pg::Statement confirm(kConfirm, pg::params(pg::array(refs)));
  const pg::WriteResult written = co_await db_.transaction(std::move(queue), std::move(confirm));
  confirmed_.add(written.results.size() == 2 ? written.results[1].rows() : 0);

  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  for (const std::int64_t user : users) {
    const auto id = static_cast<std::uint64_t>(user);
    std::vector<std::string> keys;
    keys.push_back(profile::user_key(id, ":orders:page1"));
    const bool marked = co_await markers_.mark(id, written.lsn, std::move(keys));
    if (!marked) {
      cache_errors_.add();
    }
  }
}

boost::asio::awaitable<bool> OrderSink::abandon(const campaigns::Entry& entry) {
  const std::string ref(*entry.get("ref"));
  const std::int64_t sale = *entry.get_int("fs");
  const std::int64_t user = *entry.get_int("user");
  const std::int64_t quantity = *entry.get_int("qty");
  try {
    const pg::Result rows = co_await db_.write(kFail, pg::params(ref, sale, user, quantity));
    if (!rows.empty() && rows.get<std::string>(0, 0) == "confirmed") {
      co_return false;
    }
  } catch (const pg::Error& e) {
    if (transient(e)) {
      throw;
    }
    log::warn("flash sale: reservation failed, and its row was refused too",
              {{"order_ref", ref}, {"error", e.what()}});
  }
  co_await release(shards_, static_cast<std::uint64_t>(sale), static_cast<std::uint64_t>(user),
                   quantity, ref);
  failed_.add();
  log::warn("flash sale: reservation failed, units given back",
            {{"order_ref", ref}, {"user", user}, {"quantity", quantity}});
  co_return true;
}

}  // namespace surge::flashsales
