#pragma once

// Maps database failures to the API's errors (STYLE.md practice 12: branch on
// the error class, never on the message).
//
//   try { ... } catch (const pg::Error& e) {
//     if (auto mapped = profile::unavailable_for(e)) throw http::Error(std::move(*mapped));
//     throw;
//   }
//
// Transient failures — the node is unreachable (kConnection) or did not
// answer in time (kQueryCanceled: query timeout, pool exhausted) — become
// 503 unavailable with Retry-After (DESIGN.md principle 4: degrade, answer
// quickly). Anything else stays a pg::Error: the dispatcher logs it and
// answers 500.

#include <chrono>
#include <optional>

#include "http/error.hpp"
#include "pg/error.hpp"

namespace surge::profile {

inline constexpr std::chrono::seconds kDatabaseRetryAfter{1};

inline std::optional<http::Error> unavailable_for(const pg::Error& e) {
  switch (e.error_class()) {
    case pg::Error::Class::kConnection:
    case pg::Error::Class::kQueryCanceled:
      return http::Error::unavailable("database unavailable, retry later", kDatabaseRetryAfter);
    default:
      return std::nullopt;
  }
}

}  // namespace surge::profile
