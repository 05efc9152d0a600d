#include "users/login_limiter.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "http/error.hpp"
#include "log/log.hpp"
#include "redis/error.hpp"

namespace surge::users {

namespace asio = boost::asio;

// ===========================================================================
// Pure helpers
// ===========================================================================

namespace {

constexpr std::size_t kMaxAddress = 64;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// A plausible textual IPv4 / IPv6 address (no zone ids, no ports).
bool address_like(std::string_view s) {
  if (s.empty() || s.size() > kMaxAddress) {
    return false;
  }
  return std::ranges::all_of(s, [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.' ||
           c == ':';
  });
}

http::Error rate_limited(std::string_view why, std::int64_t retry_after) {
  http::Error e(http::Status::kTooManyRequests, "rate_limited", std::string(why));
  e.with_retry_after(std::chrono::seconds(retry_after));
  return e;
}

}  // namespace

std::string client_address(const http::Request& request) {
  if (const auto real_ip = request.header("X-Real-IP")) {
    const std::string_view v = trim(*real_ip);
    if (address_like(v)) {
      return std::string(v);
    }
  }
  if (const auto forwarded = request.header("X-Forwarded-For")) {
    std::string_view v = *forwarded;
    const std::size_t comma = v.rfind(',');
    if (comma != std::string_view::npos) {
      v = v.substr(comma + 1);
    }
    v = trim(v);
    if (address_like(v)) {
      return std::string(v);
    }
  }
  return "unknown";
}

Window window_at(std::int64_t now, std::chrono::seconds window) {
  const std::int64_t w = window.count() > 0 ? window.count() : 1;
  // Floor division, so a (theoretical) negative clock still gets a window.
  std::int64_t start = now - now % w;
  if (now % w < 0) {
    start -= w;
  }
  return {start, std::max<std::int64_t>(1, start + w - now)};
}

std::string name_key(std::string_view name, std::int64_t window_start) {
  return fmt::format("surge:login:name:{{{}}}:{}", name, window_start);
}

std::string address_key(std::string_view address, std::int64_t window_start) {
  return fmt::format("surge:login:addr:{{{}}}:{}", address, window_start);
}

// ===========================================================================
// LoginLimiter
// ===========================================================================

LoginLimiter::LoginLimiter(redis::Shards* shards, LoginLimitSettings settings,
                           metrics::Registry& registry, UnixClock clock)
    : shards_(shards),
      settings_(settings),
      clock_(clock ? std::move(clock) : UnixClock(system_unix_now)),
      limited_name_(registry.counter("surge_users_login_limited_total",
                                     "Login attempts refused with 429, by the limit that hit.",
                                     {{"limit", "name"}})),
      limited_address_(registry.counter("surge_users_login_limited_total",
                                        "Login attempts refused with 429, by the limit that hit.",
                                        {{"limit", "address"}})),
      errors_(registry.counter("surge_users_login_limit_errors_total",
                               "Login rate-limit checks that failed open (Redis unavailable).")) {
  if (settings_.enabled &&
      (settings_.window.count() <= 0 || settings_.per_name == 0 || settings_.per_address == 0)) {
    throw std::invalid_argument("login limits: window and limits must be positive");
  }
}

void LoginLimiter::redis_failed(const std::exception& error) noexcept {
  errors_.add();
  const std::int64_t now = clock_();
  std::int64_t last = last_error_log_.load(std::memory_order_relaxed);
  if (now - last >= 10 &&
      last_error_log_.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
    log::warn("login rate limit unavailable, failing open", {{"error", error.what()}});
  }
}

asio::awaitable<std::optional<std::int64_t>> LoginLimiter::count(std::size_t shard,
                                                                 std::string key) {
  try {
    std::vector<redis::Command> commands;
    commands.emplace_back("INCR", key);
    commands.emplace_back("EXPIRE", key, settings_.window.count() + 1);
    const std::vector<redis::Reply> replies =
        co_await shards_->pipeline(shard, std::move(commands));
    co_return replies.at(0).as_integer();
  } catch (const redis::Error& e) {
    redis_failed(e);
  } catch (const std::out_of_range& e) {
    redis_failed(e);
  }
  co_return std::nullopt;
}

asio::awaitable<LoginLimiter::Ticket> LoginLimiter::acquire(std::string name, std::string address) {
  Ticket ticket;
  if (!active()) {
    co_return ticket;
  }
  const Window w = window_at(clock_(), settings_.window);

  const std::size_t address_shard = shards_->shard_for(address);
  std::string akey = address_key(address, w.start);
  const auto at_address = co_await count(address_shard, akey);
  if (at_address) {
    ticket.address = {std::move(akey), address_shard};
    if (*at_address > static_cast<std::int64_t>(settings_.per_address)) {
      limited_address_.add();
      throw rate_limited("too many failed login attempts from this address; retry later",
                         w.retry_after);
    }
  }
  if (!name.empty()) {
    const std::size_t name_shard = shards_->shard_for(name);
    std::string nkey = name_key(name, w.start);
    const auto at_name = co_await count(name_shard, nkey);
    if (at_name) {
      ticket.name = {std::move(nkey), name_shard};
      if (*at_name > static_cast<std::int64_t>(settings_.per_name)) {
        limited_name_.add();
        throw rate_limited("too many failed login attempts for this account; retry later",
                           w.retry_after);
      }
    }
  }
  co_return ticket;
}

asio::awaitable<void> LoginLimiter::refund(Ticket ticket) {
  if (!active()) {
    co_return;
  }
  // A named array, not a braced list: GCC 12 mishandles the backing array
  // of an initializer_list that lives across a co_await.
  const std::array<const Counted*, 2> all{&ticket.address, &ticket.name};
  for (const Counted* counted : all) {
    if (counted->key.empty()) {
      continue;
    }
    try {
      std::vector<redis::Command> commands;
      commands.emplace_back("DECR", counted->key);
      // EXPIRE again: if the key expired since the INCR, DECR re-created it
      // without a TTL.
      commands.emplace_back("EXPIRE", counted->key, settings_.window.count() + 1);
      co_await shards_->pipeline(counted->shard, std::move(commands));
    } catch (const redis::Error& e) {
      redis_failed(e);
    }
  }
}

}  // namespace surge::users
