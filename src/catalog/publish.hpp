#pragma once

// `surge publish` (API.md §4 "Static catalog"): writes the catalog and the
// active campaigns as content-versioned JSON files plus manifest.json into
// a folder the load balancer serves under /static/ (content.hpp draws the
// layout).
//
//   catalog::PublishOptions options;
//   options.database_uri = config.database.primary;   // or a replica
//   options.dir = config.publish.dir;
//   const catalog::PublishReport report = catalog::publish(options);
//
// Atomicity, for a reader polling manifest.json and then the files it names
// (the load balancer, a CDN):
//   1. each versioned file is written to a temporary name in the same folder
//      (".<name>.tmp.<pid>.<n>"), fsync'ed, renamed to its final name; a
//      file that already exists has the same bytes (its name is its
//      content hash) and is left alone;
//   2. the folder is fsync'ed, then the manifest goes through the same
//      temp + fsync + rename, last: a manifest never names a file that is
//      not complete on disk. A manifest with the same bytes is not
//      rewritten: publishing unchanged content changes no file, so the
//      load balancer's ETags (nginx derives them from mtime and size) stay
//      those of the content and clients keep getting 304;
//   3. when the manifest changes, the files the previous one named and the
//      new one does not are touched (mtime = the moment they were
//      superseded); versioned files that are not current and whose mtime
//      is older than `retention` are removed, so a reader that fetched the
//      previous manifest up to `retention` ago still finds its files. Only
//      names matching is_versioned_file_name are ever removed.
// Concurrent publishers into one folder are safe (distinct temp names,
// rename is atomic) and take turns on a PostgreSQL advisory lock held from
// before the snapshot to after the manifest's rename: the manifest never
// goes back to an older snapshot.
//
// Blocking (libpq, file I/O): the CLI, or a worker's own thread — never an
// I/O thread. Errors: std::runtime_error naming the step (database
// unreachable, query failed, a file operation failed with its errno text).

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

#include "catalog/content.hpp"

namespace surge::catalog {

struct PublishOptions {
  std::string database_uri;  // libpq URI
  std::filesystem::path dir = "var/static";
  std::chrono::seconds retention{600};
};

struct PublishReport {
  Manifest manifest;
  bool catalog_written = false;  // false: that version was already there
  bool campaigns_written = false;
  bool manifest_written = false;  // false: the manifest already said this
  std::size_t removed = 0;        // superseded files past retention
};

// Reads both documents (one REPEATABLE READ transaction) and publishes them.
PublishReport publish(const PublishOptions& options);

// The file half of publish(), for tests and for callers that already hold
// the documents. Creates `dir` when missing.
PublishReport publish_documents(const std::filesystem::path& dir, std::string_view catalog,
                                std::string_view campaigns, std::chrono::seconds retention);

}  // namespace surge::catalog
