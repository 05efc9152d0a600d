#include "catalog/products.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "catalog/content.hpp"
#include "http/context.hpp"
#include "http/error.hpp"
#include "http/etag.hpp"
#include "http/json_body.hpp"
#include "log/log.hpp"
#include "pg/params.hpp"
#include "profile/profile.hpp"

namespace surge::catalog {

namespace {

// ===========================================================================
// SQL: PostgreSQL renders the product (see products.hpp)
// ===========================================================================

// A macro, not a constant: it is pasted into SQL literals at compile time.
// NOLINTNEXTLINE(cppcoreguidelines-macro-usage)
#define SURGE_PRODUCT_JSON                                                 \
  "json_build_object('id', id, 'name', name, 'price_cents', price_cents, " \
  "'stock', stock, 'updated_at', to_char(updated_at AT TIME ZONE 'UTC', "  \
  "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))::text"

constexpr const char* kSelectProduct = "SELECT " SURGE_PRODUCT_JSON " FROM products WHERE id = $1";
constexpr const char* kSelectPage =
    "SELECT " SURGE_PRODUCT_JSON " FROM products ORDER BY id LIMIT $1 OFFSET $2";
constexpr const char* kInsertProduct =
    "INSERT INTO products (name, price_cents, stock) VALUES ($1, $2, $3) RETURNING "
    "id, " SURGE_PRODUCT_JSON;
// COALESCE keeps what the patch does not name.
constexpr const char* kUpdateProduct =
    "UPDATE products SET name = COALESCE($2, name), price_cents = COALESCE($3, price_cents), "
    "stock = COALESCE($4, stock), updated_at = now() WHERE id = $1 RETURNING " SURGE_PRODUCT_JSON;
constexpr const char* kSelectIds = "SELECT id FROM products ORDER BY id";

#undef SURGE_PRODUCT_JSON

constexpr std::int64_t kMaxAmount = 1'000'000'000'000'000;  // 10^15
constexpr std::size_t kMaxNameChars = 200;
constexpr std::string_view kCatalogKey = "catalog";
// L1 budgets of the catalog and page caches (the products cache takes
// [cache] as it is): together at most 32 MiB on top of it.
constexpr std::size_t kCatalogL1Bytes = std::size_t{16} << 20;
constexpr std::size_t kPagesL1Entries = 4096;
constexpr std::size_t kPagesL1Bytes = std::size_t{16} << 20;

std::string checked_name(const boost::json::value& v) {
  if (!v.is_string()) {
    throw http::Error::invalid_request("name", "must be a string");
  }
  const std::string_view s = v.get_string();
  // Code points: the body parser has validated the encoding.
  const std::size_t chars = profile::utf8_length(s);
  if (chars == 0 || chars > kMaxNameChars || s.find_first_not_of(' ') == std::string_view::npos) {
    throw http::Error::invalid_request("name", "must be 1 to 200 characters, not blank");
  }
  // A name is shown on one line, in lists and the published catalog: no
  // tabs, newlines or other controls (the rule of nicknames).
  if (profile::has_control_characters(s)) {
    throw http::Error::invalid_request("name", "must not contain control characters");
  }
  return std::string(s);
}

std::int64_t checked_amount(const boost::json::value& v, std::string_view field) {
  const std::optional<std::int64_t> n = http::as_int(v);
  if (!n || *n < 0 || *n > kMaxAmount) {
    throw http::Error::invalid_request(field, "must be an integer from 0 to 10^15");
  }
  return *n;
}

}  // namespace

// ===========================================================================
// Parsing
// ===========================================================================

NewProduct parse_new_product(std::string_view body) {
  const http::JsonBody json(body);
  for (const auto& field : json.object()) {
    const std::string_view k = field.key();
    if (k != "name" && k != "price_cents" && k != "stock") {
      throw http::Error::invalid_request(k, "unknown field (allowed: name, price_cents, stock)");
    }
  }
  NewProduct p;
  for (const std::string_view field : {"name", "price_cents", "stock"}) {
    const boost::json::value* v = json.object().if_contains(field);
    if (v == nullptr || v->is_null()) {
      throw http::Error::invalid_request(field, "required");
    }
  }
  p.name = checked_name(json.object().at("name"));
  p.price_cents = checked_amount(json.object().at("price_cents"), "price_cents");
  p.stock = checked_amount(json.object().at("stock"), "stock");
  return p;
}

ProductPatch parse_product_patch(std::string_view body) {
  const http::JsonBody json(body);
  ProductPatch patch;
  for (const auto& field : json.object()) {
    const std::string_view k = field.key();
    if (k == "name") {
      patch.name = checked_name(field.value());
    } else if (k == "price_cents") {
      patch.price_cents = checked_amount(field.value(), k);
    } else if (k == "stock") {
      patch.stock = checked_amount(field.value(), k);
    } else {
      throw http::Error::invalid_request(k, "unknown field (allowed: name, price_cents, stock)");
    }
  }
  return patch;
}

std::string product_key(std::uint64_t id) {
  return fmt::format("product:{{{}}}", id);
}

// ===========================================================================
// Construction
// ===========================================================================

Products::Products(pg::Cluster& db, redis::Shards* shards, cache::RedisRemoteCache* remote,
                   const cache::TwoLevelOptions& cache_options, metrics::Registry& registry)
    : db_(db),
      epoch_(std::make_shared<std::atomic<std::uint64_t>>(0)),
      created_(registry.counter("surge_products_created_total", "Products created (admin).")),
      updated_(registry.counter("surge_products_updated_total", "Products changed (admin).")) {
  // The catalog is one entry: one LRU shard so that a large document still
  // fits its budget. Pages: a bounded working set of (epoch, page, size).
  cache::TwoLevelOptions catalog_options = cache_options;
  catalog_options.l1.shards = 1;
  catalog_options.l1.max_entries = 4;
  catalog_options.l1.max_bytes = std::min<std::size_t>(cache_options.l1.max_bytes, kCatalogL1Bytes);
  cache::TwoLevelOptions page_options = cache_options;
  page_options.l1.max_entries =
      std::min<std::size_t>(cache_options.l1.max_entries, kPagesL1Entries);
  page_options.l1.max_bytes = std::min<std::size_t>(cache_options.l1.max_bytes, kPagesL1Bytes);
  products_ = std::make_unique<cache::TwoLevelCache>(registry, "products", cache_options, remote);
  catalog_ = std::make_unique<cache::TwoLevelCache>(registry, "catalog", catalog_options, remote);
  pages_ = std::make_unique<cache::TwoLevelCache>(registry, "product_pages", page_options, nullptr);
  if (remote != nullptr) {
    remote->subscribe(*products_);
    remote->subscribe(*catalog_);
  }
  if (shards != nullptr) {
    shards->subscribe(std::string(cache::kInvalidationChannel),
                      [epoch = epoch_](std::string_view key) {
                        if (key.starts_with("product:") || key == kCatalogKey) {
                          epoch->fetch_add(1);
                        }
                      });
  }
}

Products::~Products() = default;

// ===========================================================================
// Domain
// ===========================================================================

boost::asio::awaitable<cache::Value> Products::get(std::uint64_t id) {
  std::string key = product_key(id);
  cache::TwoLevelCache::Loader loader = [this, id] { return load_product(id); };
  co_return co_await products_->get(std::move(key), std::move(loader));
}

boost::asio::awaitable<cache::Value> Products::page(http::Page page) {
  std::string key = fmt::format("products:{}:{}:{}", epoch_->load(), page.number, page.size);
  cache::TwoLevelCache::Loader loader = [this, page] { return load_page(page); };
  co_return co_await pages_->get(std::move(key), std::move(loader));
}

boost::asio::awaitable<cache::Value> Products::catalog() {
  std::string key(kCatalogKey);
  cache::TwoLevelCache::Loader loader = [this] { return load_catalog(); };
  co_return co_await catalog_->get(std::move(key), std::move(loader));
}

boost::asio::awaitable<std::optional<std::string>> Products::load_product(std::uint64_t id) {
  pg::Params args = pg::params(id);
  const pg::Result rows = co_await db_.read(kSelectProduct, std::move(args), pg::kPrimaryLsn);
  if (rows.empty()) {
    co_return std::nullopt;
  }
  co_return rows.get<std::string>(0, 0);
}

boost::asio::awaitable<std::optional<std::string>> Products::load_page(http::Page page) {
  pg::Params args = pg::params(page.size + 1, page.offset());
  const pg::Result rows = co_await db_.read(kSelectPage, std::move(args), pg::kPrimaryLsn);
  const bool has_more = rows.rows() > page.size;
  const std::size_t shown = has_more ? page.size : rows.rows();
  std::string body =
      fmt::format(R"({{"page":{},"page_size":{},"products":[)", page.number, page.size);
  for (std::size_t i = 0; i < shown; ++i) {
    if (i > 0) {
      body += ',';
    }
    body += rows.text(i, 0);
  }
  body += fmt::format(R"(],"has_more":{}}})", has_more);
  co_return body;
}

boost::asio::awaitable<std::optional<std::string>> Products::load_catalog() {
  const pg::Result rows = co_await db_.read(kCatalogSql, {}, pg::kPrimaryLsn);
  co_return rows.get<std::string>(0, 0);
}

boost::asio::awaitable<bool> Products::invalidate_product(std::uint64_t id) {
  epoch_->fetch_add(1);  // this server's pages at once, whatever Redis says
  co_return co_await products_->invalidate(product_key(id));
}

boost::asio::awaitable<bool> Products::invalidate_catalog() {
  epoch_->fetch_add(1);
  co_return co_await catalog_->invalidate(std::string(kCatalogKey));
}

boost::asio::awaitable<void> Products::stock_changed(std::vector<std::uint64_t> ids) {
  for (const std::uint64_t id : ids) {
    co_await invalidate_product(id);
  }
}

boost::asio::awaitable<bool> Products::products_scope(std::optional<std::uint64_t> id) {
  bool ok = true;
  if (id) {
    ok = co_await invalidate_product(*id);
  } else {
    const pg::Result ids = co_await db_.read(kSelectIds, {}, pg::kPrimaryLsn);
    for (std::size_t i = 0; i < ids.rows(); ++i) {
      const bool one = co_await invalidate_product(ids.get<std::uint64_t>(i, 0));
      ok = ok && one;
    }
  }
  const bool catalog_ok = co_await invalidate_catalog();
  if (publish_) {
    co_await publish_();
  }
  co_return ok&& catalog_ok;
}

boost::asio::awaitable<bool> Products::catalog_scope(std::optional<std::uint64_t> /*id*/) {
  const bool ok = co_await invalidate_catalog();
  if (publish_) {
    co_await publish_();
  }
  co_return ok;
}

// ===========================================================================
// Routes: parse → domain → map
// ===========================================================================

void Products::add_routes(http::Router& router) {
  router.add({http::Method::kPost, "/api/v1/admin/products", http::Auth::kAdmin,
              http::AsyncHandler([this](http::Context& ctx) { return create(ctx); })});
  router.add({http::Method::kPatch, "/api/v1/admin/products/{id}", http::Auth::kAdmin,
              http::AsyncHandler([this](http::Context& ctx) { return patch(ctx); })});
  router.add({http::Method::kGet, "/api/v1/products/{id}", http::Auth::kNone,
              http::AsyncHandler([this](http::Context& ctx) { return get_one(ctx); })});
  router.add({http::Method::kGet, "/api/v1/products", http::Auth::kNone,
              http::AsyncHandler([this](http::Context& ctx) { return list(ctx); })});
  router.add({http::Method::kGet, "/api/v1/catalog/version", http::Auth::kNone,
              http::AsyncHandler([this](http::Context& ctx) { return version(ctx); })});
}

void Products::register_admin_scopes(profile::CacheAdmin& admin) {
  admin.register_scope("products", profile::CacheAdmin::IdRule::kOptional,
                       [this](std::optional<std::uint64_t> id) { return products_scope(id); });
  admin.register_scope("catalog", profile::CacheAdmin::IdRule::kNone,
                       [this](std::optional<std::uint64_t> id) { return catalog_scope(id); });
}

boost::asio::awaitable<void> Products::create(http::Context& ctx) {
  NewProduct p = parse_new_product(ctx.request.body);
  pg::Params args = pg::params(p.name, p.price_cents, p.stock);
  const pg::Result rows = co_await db_.write(kInsertProduct, std::move(args));
  const auto id = rows.get<std::uint64_t>(0, 0);
  auto body = rows.get<std::string>(0, 1);
  created_.add();
  // It may have been looked up (and cached as absent) before.
  co_await invalidate_product(id);
  co_await invalidate_catalog();
  if (publish_) {
    co_await publish_();
  }
  ctx.response.set("ETag", http::make_etag(body));
  ctx.response.json(http::Status::kCreated, body);
}

boost::asio::awaitable<void> Products::patch(http::Context& ctx) {
  const std::optional<std::uint64_t> id = profile::parse_id(ctx.param("id"));
  if (!id) {
    throw http::Error::not_found("product not found");
  }
  ProductPatch changes = parse_product_patch(ctx.request.body);
  pg::Params args = pg::params(*id, changes.name, changes.price_cents, changes.stock);
  const pg::Result rows = co_await db_.write(kUpdateProduct, std::move(args));
  if (rows.empty()) {
    throw http::Error::not_found("product not found");
  }
  auto body = rows.get<std::string>(0, 0);
  updated_.add();
  co_await invalidate_product(*id);
  if (changes.name || changes.price_cents) {
    co_await invalidate_catalog();
    if (publish_) {
      co_await publish_();
    }
  }
  ctx.response.set("ETag", http::make_etag(body));
  ctx.response.json(http::Status::kOk, body);
}

boost::asio::awaitable<void> Products::get_one(http::Context& ctx) {
  const std::optional<std::uint64_t> id = profile::parse_id(ctx.param("id"));
  if (!id) {
    throw http::Error::not_found("product not found");
  }
  const cache::Value entry = co_await get(*id);
  if (!entry) {
    throw http::Error::not_found("product not found");
  }
  http::respond_with_etag(ctx, *entry);
}

boost::asio::awaitable<void> Products::list(http::Context& ctx) {
  const http::Page wanted = http::parse_page(ctx.request);
  const cache::Value entry = co_await page(wanted);
  if (!entry) {
    throw std::runtime_error("product page loader returned no page");
  }
  http::respond_with_etag(ctx, *entry);
}

boost::asio::awaitable<void> Products::version(http::Context& ctx) {
  const cache::Value entry = co_await catalog();
  if (!entry) {
    throw std::runtime_error("catalog loader returned no catalog");
  }
  http::respond_with_etag(ctx, render_version(content_version(*entry)));
}

}  // namespace surge::catalog
