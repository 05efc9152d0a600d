#include "profile/store.hpp"

#include <utility>

#include "log/log.hpp"
#include "pg/params.hpp"
#include "profile/keys.hpp"

namespace surge::profile {

namespace {

// created_at as RFC 3339 UTC with second precision (API.md §1), rendered by
// the database so every server produces the same bytes.
// A macro, not a constant: it is pasted into SQL literals at compile time.
// NOLINTNEXTLINE(cppcoreguidelines-macro-usage)
#define SURGE_PROFILE_COLUMNS                      \
  "id, name, nickname, avatar_url, total_points, " \
  "to_char(created_at AT TIME ZONE 'UTC', "        \
  "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at"

constexpr const char* kSelectProfile = "SELECT " SURGE_PROFILE_COLUMNS " FROM users WHERE id = $1";

// COALESCE keeps a field the patch does not name.
constexpr const char* kUpdateProfile =
    "UPDATE users SET nickname = COALESCE($2, nickname), "
    "avatar_url = COALESCE($3, avatar_url), updated_at = now() "
    "WHERE id = $1 RETURNING " SURGE_PROFILE_COLUMNS;

#undef SURGE_PROFILE_COLUMNS

Profile profile_from_row(const pg::Result& r) {
  Profile p;
  p.id = r.get<std::uint64_t>(0, 0);
  p.name = r.get<std::string>(0, 1);
  p.nickname = r.get<std::string>(0, 2);
  p.avatar_url = r.get<std::string>(0, 3);
  p.total_points = r.get<std::int64_t>(0, 4);
  p.created_at = r.get<std::string>(0, 5);
  return p;
}

}  // namespace

ProfileStore::ProfileStore(pg::Cluster& db, redis::Shards* shards, const Settings& settings,
                           metrics::Registry& registry)
    : db_(db),
      markers_(db, shards, settings.marker_ttl, registry),
      remote_(shards != nullptr ? std::make_unique<FencedRemoteCache>(*shards, registry) : nullptr),
      cache_(std::make_unique<cache::TwoLevelCache>(registry, "profile", settings.cache,
                                                    remote_.get())),
      updates_(registry.counter("surge_profile_updates_total",
                                "Profile changes committed (PATCH /api/v1/me).")),
      publish_errors_(registry.counter(
          "surge_profile_invalidation_errors_total",
          "Profile invalidations that could not be broadcast (other servers' L1 copies "
          "expire by TTL instead).")) {
  if (remote_) {
    remote_->subscribe(*cache_);
  }
}

ProfileStore::~ProfileStore() = default;

boost::asio::awaitable<cache::Value> ProfileStore::get(std::uint64_t user_id) {
  std::string key = profile_key(user_id);
  // A plain lambda handing over to a named coroutine (STYLE.md 15).
  cache::TwoLevelCache::Loader loader = [this, user_id] { return load(user_id); };
  co_return co_await cache_->get(std::move(key), std::move(loader));
}

boost::asio::awaitable<std::optional<std::string>> ProfileStore::load(std::uint64_t user_id) {
  const SharedMarkers::Observed seen = co_await markers_.observe(user_id);
  pg::Params args = pg::params(user_id);
  const pg::Result rows = co_await db_.read(kSelectProfile, std::move(args), seen.min_lsn);
  if (rows.empty()) {
    co_return std::nullopt;
  }
  co_return encode_cached(seen.fence, profile_from_row(rows));
}

boost::asio::awaitable<std::optional<Profile>> ProfileStore::update(std::uint64_t user_id,
                                                                    Patch patch) {
  pg::Statement statement(kUpdateProfile, pg::params(user_id, patch.nickname, patch.avatar_url));
  const pg::WriteResult written = co_await db_.transaction(std::move(statement));
  const pg::Result& rows = written.results.at(0);
  if (rows.empty()) {
    co_return std::nullopt;
  }
  Profile updated = profile_from_row(rows);
  updates_.add();
  co_await after_write(user_id, written.lsn);
  co_return updated;
}

boost::asio::awaitable<bool> ProfileStore::after_write(std::uint64_t user_id, pg::Lsn lsn,
                                                       std::vector<std::string> also_delete) {
  std::string key = profile_key(user_id);
  also_delete.push_back(key);
  bool ok = co_await markers_.mark(user_id, lsn, std::move(also_delete));
  // After the marker (see the top of store.hpp).
  cache_->on_invalidation(key);
  if (remote_) {
    try {
      co_await remote_->publish_invalidation(key);
    } catch (const redis::Error& e) {
      ok = false;
      publish_errors_.add();
      log::warn("profile invalidation not broadcast", {{"user_id", user_id}, {"error", e.what()}});
    }
  }
  co_return ok;
}

boost::asio::awaitable<bool> ProfileStore::invalidate(std::uint64_t user_id) {
  pg::Lsn lsn = 0;  // unknown: the marker then sends the user's reads to the primary
  try {
    const pg::Result r = co_await db_.write("SELECT pg_current_wal_lsn()::text", {});
    lsn = pg::parse_lsn(r.text(0, 0)).value_or(0);
  } catch (const pg::Error& e) {
    log::warn("admin invalidation: primary LSN unknown", {{"error", e.what()}});
  }
  co_return co_await after_write(user_id, lsn);
}

boost::asio::awaitable<pg::Lsn> ProfileStore::read_min_lsn(std::uint64_t user_id) {
  const SharedMarkers::Observed seen = co_await markers_.observe(user_id);
  co_return seen.min_lsn;
}

boost::asio::awaitable<SharedMarkers::Observed> ProfileStore::observe(std::uint64_t user_id) {
  co_return co_await markers_.observe(user_id);
}

boost::asio::awaitable<bool> ProfileStore::mark_write(std::uint64_t user_id, pg::Lsn lsn,
                                                      std::vector<std::string> keys) {
  co_return co_await markers_.mark(user_id, lsn, std::move(keys));
}

}  // namespace surge::profile
