#pragma once

// The static catalog's content: the SQL that renders it, its version (a
// content hash) and the names of the published files. Shared by the API
// (GET /api/v1/catalog/version) and `surge publish`, so both compute the
// same version from the same data (API.md §4).
//
// Rendering: PostgreSQL renders the JSON (json_build_object / json_agg, keys
// in the order written, ORDER BY id): every client — the servers through
// pg::Cluster, the publisher through blocking libpq, primary or replica —
// receives the same bytes for the same rows, so the hash agrees without a
// second renderer to keep in step.
//
//   catalog   {"products" : [{"id" : 1, "name" : "..", "price_cents" : 199}, ...]}
//             what is on sale: no stock (it changes with every order and is
//             read live from GET /api/v1/products/{id})
//   campaigns {"redpackets" : [...], "flashsales" : [...]}
//             rows whose ends_at > now() (pending or running)
//
// Version: 16 lower-case hex digits of XXH3-64 over the file's bytes. The
// catalog version that GET /api/v1/catalog/version names is the version of
// the catalog file (not of the manifest: the manifest also names the
// campaigns, which change on their own schedule).
//
//   var/static/
//     catalog.<version>.json      immutable, served with a long max-age
//     campaigns.<version>.json    immutable
//     manifest.json               {"version","catalog","campaigns",
//                                  "catalog_version","campaigns_version"}
//                                 max-age=5, renamed into place last
//
// Thread safety: plain functions.

#include <optional>
#include <string>
#include <string_view>

namespace surge::catalog {

// One row, one text column: the catalog document.
extern const char* const kCatalogSql;
// One row, one text column: the active campaigns document.
extern const char* const kCampaignsSql;

// 16 lower-case hex digits of XXH3-64(content).
std::string content_version(std::string_view content);

// "catalog.<version>.json" / "campaigns.<version>.json".
std::string catalog_file_name(std::string_view version);
std::string campaigns_file_name(std::string_view version);

// True for the names publish writes ("catalog.<16 hex>.json",
// "campaigns.<16 hex>.json"): only these are ever cleaned up.
bool is_versioned_file_name(std::string_view name) noexcept;

struct Manifest {
  std::string catalog_version;
  std::string campaigns_version;
  friend bool operator==(const Manifest&, const Manifest&) = default;
};

// {"version":<catalog>,"catalog":"catalog.<v>.json","campaigns":"campaigns.<v>.json",
//  "catalog_version":..,"campaigns_version":..}
std::string render_manifest(const Manifest& manifest);
// nullopt when `text` is not a manifest rendered above.
std::optional<Manifest> parse_manifest(std::string_view text);

// {"version":"<v>"}: the body of GET /api/v1/catalog/version.
std::string render_version(std::string_view version);

}  // namespace surge::catalog
