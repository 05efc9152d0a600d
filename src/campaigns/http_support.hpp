#pragma once

// Edge helpers shared by the campaign modules (red packets, flash sales):
// path ids, the time window of a creation body, and failure mapping.
//
// Thread safety: plain functions.

#include <cstdint>
#include <string_view>
#include <utility>

#include "http/error.hpp"
#include "http/json_body.hpp"
#include "pg/error.hpp"
#include "redis/error.hpp"

namespace surge::campaigns {

// The {id} of a path: a positive decimal id, else 404 not_found (an id
// that cannot exist names no resource).
std::uint64_t path_id(std::string_view text);

// "starts_at" and "ends_at" of a body as Unix ms; 400 invalid_request unless
// both are RFC 3339 and ends_at > starts_at.
std::pair<std::int64_t, std::int64_t> window_of(const http::JsonBody& body);

// Redis unreachable (breaker open, connection, timeout) → throws 503
// Retry-After 1; returns otherwise (the caller rethrows: `throw;` → 500).
void throw_if_unavailable(const redis::Error& e);
// Database unreachable or timing out → throws 503 Retry-After 1; returns
// otherwise.
void throw_if_unavailable(const pg::Error& e);

http::Error error(http::Status status, std::string_view code, std::string_view message);

}  // namespace surge::campaigns
