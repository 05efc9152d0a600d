#include "campaigns/http_support.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "campaigns/stream.hpp"
#include "campaigns/time.hpp"
#include "profile/profile.hpp"
#include "redis/error.hpp"

namespace surge::campaigns {

std::uint64_t path_id(std::string_view text) {
  // The rule of every other {id} (users, products, orders): so `01` names
  // nothing here either.
  const std::optional<std::uint64_t> id = profile::parse_id(text);
  if (!id) {
    throw http::Error::not_found("no such campaign");
  }
  return *id;
}

std::pair<std::int64_t, std::int64_t> window_of(const http::JsonBody& body) {
  const auto starts = parse_rfc3339_ms(body.required_string("starts_at"));
  if (!starts) {
    throw http::Error::invalid_request("starts_at", "expected an RFC 3339 date-time");
  }
  const auto ends = parse_rfc3339_ms(body.required_string("ends_at"));
  if (!ends) {
    throw http::Error::invalid_request("ends_at", "expected an RFC 3339 date-time");
  }
  if (*ends <= *starts) {
    throw http::Error::invalid_request("ends_at", "must be after starts_at");
  }
  return {*starts, *ends};
}

std::optional<http::Error> shard_unavailable(const std::exception& e) {
  const auto* shard = dynamic_cast<const redis::Error*>(&e);
  if (shard == nullptr || !shard->unavailable()) {
    return std::nullopt;
  }
  return http::Error::unavailable("campaign shard unavailable, retry later",
                                  std::chrono::seconds(1));
}

http::Error error(http::Status status, std::string_view code, std::string_view message) {
  return {status, std::string(code), std::string(message)};
}

redis::Shards& shards_or_unavailable(redis::Shards* shards) {
  if (shards == nullptr) {
    throw http::Error::unavailable("no campaign shards configured", std::chrono::seconds(1));
  }
  return *shards;
}

boost::asio::awaitable<pg::Result> campaign_row(pg::Cluster& db, const char* sql, std::uint64_t id,
                                                std::string_view missing) {
  pg::Result rows = co_await db.read(sql, pg::params(id));
  if (rows.empty()) {
    rows = co_await db.read(sql, pg::params(id), pg::kPrimaryLsn);
  }
  if (rows.empty()) {
    throw http::Error::not_found(std::string(missing));
  }
  co_return rows;
}

boost::asio::awaitable<std::int64_t> remaining(pg::Cluster& db, redis::Shards* shards,
                                               std::uint64_t id, std::int64_t allocation,
                                               const char* persisted_sql, LiveRemaining live) {
  bool shard_down = shards == nullptr;
  if (!shard_down) {
    try {
      if (const std::optional<std::int64_t> left = co_await live(*shards, id)) {
        co_return *left;
      }
    } catch (const redis::Error& e) {
      if (!e.unavailable()) {
        throw;
      }
      shard_down = true;
    }
  }
  // With the shard down the primary answers: a replica behind it would
  // show units as left that the worker has already persisted.
  const pg::Result n =
      co_await db.read(persisted_sql, pg::params(id), shard_down ? pg::kPrimaryLsn : pg::Lsn{0});
  co_return std::max<std::int64_t>(0, allocation - n.get<std::int64_t>(0, 0));
}

}  // namespace surge::campaigns
