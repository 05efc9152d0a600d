#pragma once

// Maps database failures to the API's errors (STYLE.md practice 12: branch on
// the error class, never on the message), once, at the HTTP edge: the app
// registers the translator on the dispatcher (app/serve.cpp),
//
//   dispatcher.add_error_translator(profile::database_unavailable);
//
// so handlers let a pg::Error escape. A handler catches one only to do
// something else with it: a specific SQLSTATE → 409, a fallback, cleanup.
//
// Transient failures — the node is unreachable (kConnection) or did not
// answer in time (kQueryCanceled: query timeout, pool exhausted) — become
// 503 unavailable with Retry-After (DESIGN.md principle 4: degrade, answer
// quickly). Anything else is declined: the dispatcher logs it and answers
// 500.

#include <chrono>
#include <exception>
#include <optional>

#include "http/error.hpp"
#include "pg/error.hpp"

namespace surge::profile {

inline constexpr std::chrono::seconds kDatabaseRetryAfter{1};

// An http::ErrorTranslator: a transient pg::Error → 503, else nullopt.
inline std::optional<http::Error> database_unavailable(const std::exception& e) {
  const auto* db = dynamic_cast<const pg::Error*>(&e);
  if (db == nullptr) {
    return std::nullopt;
  }
  switch (db->error_class()) {
    case pg::Error::Class::kConnection:
    case pg::Error::Class::kQueryCanceled:
      return http::Error::unavailable("database unavailable, retry later", kDatabaseRetryAfter);
    default:
      return std::nullopt;
  }
}

}  // namespace surge::profile
