#pragma once

// Typed PostgreSQL errors (STYLE.md practice 12: SQLSTATE classes, never
// message strings).
//
// Every failure of the pg layer — a server error, a broken or refused
// connection, a timeout — surfaces as pg::Error. Callers branch on
// error_class() (or sqlstate() for a code the enum does not name); what() is
// for logs and humans only and MUST NOT be matched.
//
//   try {
//     co_await pg.write("INSERT INTO users(name, ...) VALUES ($1, ...)", params(name, ...));
//   } catch (const pg::Error& e) {
//     if (e.error_class() == pg::Error::Class::kUniqueViolation) { ... 409 name_taken ... }
//     throw;
//   }
//
// Thread safety: immutable after construction; copy freely.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace surge::pg {

class Error : public std::runtime_error {
 public:
  enum class Class : std::uint8_t {
    kUniqueViolation,      // 23505
    kForeignKeyViolation,  // 23503
    kCheckViolation,       // 23514
    kIntegrity,            // any other 23xxx (not null, exclusion, ...)
    kSerialization,        // 40001 serialization_failure, 40P01 deadlock_detected: retry
    kConnection,           // 08xxx, 57P01..57P03 (server shutting down / not yet up),
                           // or no SQLSTATE because the connection broke / was refused
    kQueryCanceled,        // 57014, and this layer's own timeouts (query or pool wait)
    kReadOnly,             // 25006: a write reached a standby
    kUndefinedTable,       // 42P01 (typically: the database is not migrated)
    kOther,
  };
  static constexpr std::size_t kClassCount = 10;

  // The class is derived from `sqlstate` (see classify()); an empty sqlstate
  // means kConnection only when `connection_lost`, kOther otherwise.
  Error(std::string sqlstate, const std::string& message, bool connection_lost = false,
        std::string constraint = {});
  // An error raised by this layer itself (timeouts, a stopped cluster): the
  // class is given; sqlstate may be empty.
  Error(Class cls, std::string sqlstate, const std::string& message);

  // The 5-character SQLSTATE, or "" when the server sent none.
  const std::string& sqlstate() const noexcept { return sqlstate_; }
  Class error_class() const noexcept { return class_; }
  // The violated constraint's name (PG_DIAG_CONSTRAINT_NAME) for integrity
  // errors, e.g. "users_name_key"; "" otherwise.
  const std::string& constraint() const noexcept { return constraint_; }

  // Whether running the same work again may succeed without a change:
  // serialization failures and deadlocks. (Connection errors are not
  // included: a write whose connection broke may or may not have committed.)
  bool retryable() const noexcept { return class_ == Class::kSerialization; }

 private:
  std::string sqlstate_;
  std::string constraint_;
  Class class_;
};

// The class of a SQLSTATE: exact codes first, then the two-character class.
// "" → kOther (the caller decides whether the connection broke).
Error::Class classify(std::string_view sqlstate) noexcept;

// "unique_violation", "connection", ... — stable snake_case names, used as
// the `class` label of surge_pg_errors_total.
std::string_view class_name(Error::Class cls) noexcept;

}  // namespace surge::pg
