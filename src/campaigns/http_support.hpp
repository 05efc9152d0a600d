#pragma once

// Edge helpers shared by the campaign modules (red packets, flash sales):
// path ids, the time window of a creation body, the shards' failure mapping,
// and the reads behind a campaign's GET.
//
// Thread safety: plain functions; the coroutines run on the caller's
// executor.

#include <cstdint>
#include <exception>
#include <optional>
#include <string_view>
#include <utility>

#include <boost/asio/awaitable.hpp>

#include "http/error.hpp"
#include "http/json_body.hpp"
#include "pg/cluster.hpp"
#include "redis/shards.hpp"

namespace surge::campaigns {

// The {id} of a path: a positive decimal id without leading zeros that fits
// in int64 (profile::parse_id, as for every {id}), else 404 not_found (an id
// that cannot exist names no resource).
std::uint64_t path_id(std::string_view text);

// "starts_at" and "ends_at" of a body as Unix ms; 400 invalid_request unless
// both are RFC 3339 and ends_at > starts_at.
std::pair<std::int64_t, std::int64_t> window_of(const http::JsonBody& body);

// An http::ErrorTranslator, registered on the dispatcher by the app: a
// redis::Error escaping a handler whose shard is unreachable (breaker open,
// connection, timeout) → 503 Retry-After 1; anything else → nullopt (500).
// Handlers let such errors escape; only the campaign modules do (the other
// modules degrade to the database on a Redis error and catch it locally).
// Database failures are profile::database_unavailable's.
std::optional<http::Error> shard_unavailable(const std::exception& e);

http::Error error(http::Status status, std::string_view code, std::string_view message);

// The campaign shards, or 503 Retry-After 1 when none are configured (a
// server without Redis still answers everything the database can).
redis::Shards& shards_or_unavailable(redis::Shards* shards);

// The campaign's row read by `sql` ($1 the id): a replica's answer, else the
// primary's (a campaign just created may not have reached the replica);
// 404 not_found with `missing` when neither has it, 503 when the database
// is unreachable.
boost::asio::awaitable<pg::Result> campaign_row(pg::Cluster& db, const char* sql, std::uint64_t id,
                                                std::string_view missing);

// Reads the shard's live count of what is left of campaign `id` (nullopt:
// its keys are gone).
using LiveRemaining = boost::asio::awaitable<std::optional<std::int64_t>> (*)(redis::Shards& shards,
                                                                              std::uint64_t id);

// What a campaign's GET shows as remaining: the shard's live count, else
// (the shard down, or its keys expired after the end) the allocation less
// what the database has persisted (`persisted_sql`: one bigint, $1 the id).
// Degraded (DESIGN.md principle 4): the GET still answers while grabs and
// orders, which only the shard can decide, get 503. The persisted count is
// at least what is gone, so the answer never shows more than there is.
boost::asio::awaitable<std::int64_t> remaining(pg::Cluster& db, redis::Shards* shards,
                                               std::uint64_t id, std::int64_t allocation,
                                               const char* persisted_sql, LiveRemaining live);

}  // namespace surge::campaigns
