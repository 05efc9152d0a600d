#pragma once

// Schema migrations: `surge migrate` applies them, `surge serve` refuses to
// start on a database that lacks some (check_schema).
//
// Each migration runs in its own transaction, under
// pg_advisory_xact_lock(kMigrationLock) so that two migrators never race,
// and is recorded in schema_migrations (version, name, checksum, applied_at)
// in that same transaction: a migration is applied entirely or not at all,
// exactly once. Running migrate() again changes nothing. A recorded
// migration whose checksum differs from the embedded text is an error (the
// file was edited after being applied: add a new migration instead).
//
// Blocking libpq: for the CLI and start-up only, never on an I/O thread.
// Thread safety: the functions share nothing; call them from any thread.

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "pg/migrations.hpp"

namespace surge::pg {

inline constexpr std::int64_t kMigrationLock = 0x7375726765;  // "surge"

// The database and the binary disagree about an applied migration.
class MigrationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct MigrateReport {
  std::vector<std::string> applied;  // "0001_init", in order; empty: up to date
  int version = 0;                   // the highest version recorded afterwards
};

// Applies every migration not yet recorded, in version order. Throws
// pg::Error (connection failure, a failing statement: that migration is
// rolled back, earlier ones stay) or MigrationError (checksum mismatch).
MigrateReport migrate(const std::string& uri,
                      std::span<const Migration> migrations = embedded_migrations());

// nullopt when every migration is recorded with a matching checksum;
// otherwise a message for the operator, e.g.
//   database 127.0.0.1:5432/surge is not migrated: 1 migration pending
//   (0001_init); run `surge migrate`
// Versions recorded by a newer binary are accepted. Throws pg::Error when
// the database cannot be reached.
std::optional<std::string> check_schema(
    const std::string& uri, std::span<const Migration> migrations = embedded_migrations());

// Hex SHA-256 of a migration's text, as recorded in schema_migrations.
std::string checksum(std::string_view sql);

}  // namespace surge::pg
