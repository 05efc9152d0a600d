#include "catalog/content.hpp"

#include <algorithm>
#include <xxhash.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>

namespace surge::catalog {

// RFC 3339 UTC with second precision (API.md §1).
// A macro, not a constant: it is pasted into SQL literals at compile time.
// NOLINTNEXTLINE(cppcoreguidelines-macro-usage)
#define SURGE_WINDOW                                                                       \
  "'starts_at', to_char(starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), " \
  "'ends_at', to_char(ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

const char* const kCatalogSql =
    "SELECT json_build_object('products', COALESCE(json_agg(json_build_object("
    "'id', id, 'name', name, 'price_cents', price_cents) ORDER BY id), '[]'::json))::text "
    "FROM products";

const char* const kCampaignsSql =
    "SELECT json_build_object("
    "'redpackets', COALESCE((SELECT json_agg(json_build_object("
    "'id', id, 'total_cents', total_cents, 'count', count, " SURGE_WINDOW
    ") ORDER BY id) "
    "FROM redpackets WHERE ends_at > now()), '[]'::json), "
    "'flashsales', COALESCE((SELECT json_agg(json_build_object("
    "'id', id, 'product_id', product_id, 'stock', stock, 'price_cents', price_cents, "
    "'per_user_limit', per_user_limit, " SURGE_WINDOW
    ") ORDER BY id) "
    "FROM flashsales WHERE ends_at > now()), '[]'::json))::text";

#undef SURGE_WINDOW

std::string content_version(std::string_view content) {
  return fmt::format("{:016x}", XXH3_64bits(content.data(), content.size()));
}

std::string catalog_file_name(std::string_view version) {
  return fmt::format("catalog.{}.json", version);
}

std::string campaigns_file_name(std::string_view version) {
  return fmt::format("campaigns.{}.json", version);
}

namespace {

bool is_version(std::string_view v) noexcept {
  if (v.size() != 16) {
    return false;
  }
  return std::ranges::all_of(
      v, [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::optional<std::string> string_of(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) {
    return std::nullopt;
  }
  return std::string(v->get_string());
}

}  // namespace

bool is_versioned_file_name(std::string_view name) noexcept {
  for (const std::string_view prefix :
       {std::string_view("catalog."), std::string_view("campaigns.")}) {
    if (name.starts_with(prefix) && name.ends_with(".json")) {
      const std::string_view middle = name.substr(prefix.size(), name.size() - prefix.size() - 5);
      return is_version(middle);
    }
  }
  return false;
}

std::string render_manifest(const Manifest& manifest) {
  boost::json::object o;
  o["version"] = manifest.catalog_version;
  o["catalog"] = catalog_file_name(manifest.catalog_version);
  o["campaigns"] = campaigns_file_name(manifest.campaigns_version);
  o["catalog_version"] = manifest.catalog_version;
  o["campaigns_version"] = manifest.campaigns_version;
  return boost::json::serialize(o);
}

std::optional<Manifest> parse_manifest(std::string_view text) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) {
    return std::nullopt;
  }
  const boost::json::object& o = v.get_object();
  Manifest m;
  auto catalog = string_of(o, "catalog_version");
  auto campaigns = string_of(o, "campaigns_version");
  auto version = string_of(o, "version");
  if (!catalog || !campaigns || !version || !is_version(*catalog) || !is_version(*campaigns) ||
      *version != *catalog) {
    return std::nullopt;
  }
  m.catalog_version = std::move(*catalog);
  m.campaigns_version = std::move(*campaigns);
  if (string_of(o, "catalog") != catalog_file_name(m.catalog_version) ||
      string_of(o, "campaigns") != campaigns_file_name(m.campaigns_version)) {
    return std::nullopt;
  }
  return m;
}

std::string render_version(std::string_view version) {
  boost::json::object o;
  o["version"] = version;
  return boost::json::serialize(o);
}

}  // namespace surge::catalog
