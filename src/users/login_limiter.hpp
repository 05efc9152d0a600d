#pragma once

// Rate limiting of login attempts: fixed-window counters in Redis, one per
// account name and one per client address.
//
// Redis layout (each key on the shard of its hash tag, i.e.
// shards.shard_for(<name>) / shards.shard_for(<address>)):
//
//   surge:login:name:{<name>}:<window_start>     integer, TTL window + 1 s
//   surge:login:addr:{<address>}:<window_start>  integer, TTL window + 1 s
//
//   window_start = now - now % window (Unix seconds): every server agrees
//   on the window without talking to the others.
//
// An attempt INCRs both counters (INCR + EXPIRE, one pipeline per shard)
// before the password is checked; the attempt is refused (429 rate_limited,
// Retry-After = seconds to the end of the window) when either count passes
// its limit. A successful login refunds its attempt (DECR + EXPIRE), as
// does one answered 503 (database down, hash queue full: nothing was
// checked), so the limits bound *failed* attempts — a guessing attack — and not the logins of
// a busy office behind one address. Counting before checking (not after a
// failure) keeps the limit exact under concurrency: a burst of parallel
// guesses cannot all pass a check made before any of them counted.
//
// Names are only counted when they could exist (credentials.hpp rules), so
// arbitrary bytes never become Redis keys; addresses are normalised by
// client_address().
//
// Redis unavailable (any redis::Error, an open breaker, no shards
// configured): the attempt is allowed — fail open. Locking every user out
// because a cache shard died would turn a partial outage into a total one;
// argon2 (~0.1 s of a pool thread per guess, max_pending jobs) still bounds a guessing
// attack meanwhile. Each failure is counted in
// surge_users_login_limit_errors_total and logged (at most once per 10 s).
//
// Client address: the socket peer is not part of http::Context, so the
// address comes from X-Real-IP, which our nginx sets to $remote_addr
// (config/cluster/nginx.conf.in), else the last hop of X-Forwarded-For (the
// one nginx appended), else "unknown". This trusts the header: app servers
// MUST be reachable only through the load balancer (they listen on
// loopback / a private network); a client talking to an app directly could
// pick its own address bucket — the per-name limit still holds.
//
// Thread safety: acquire()/refund() run on the I/O threads (redis::Shards'
// rule) concurrently; the object is immutable after construction.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "http/request.hpp"
#include "metrics/registry.hpp"
#include "redis/shards.hpp"
#include "users/token.hpp"

namespace surge::users {

struct LoginLimitSettings {
  bool enabled = true;
  std::uint32_t per_name = 10;     // failed attempts per account name per window
  std::uint32_t per_address = 50;  // failed attempts per client address per window
  std::chrono::seconds window{60};
};

// The rate-limit identity of the caller (see the header comment): a
// textual IPv4/IPv6 address of at most 64 characters of [0-9A-Fa-f.:], or
// "unknown".
std::string client_address(const http::Request& request);

// The window containing `now` and the seconds left in it (>= 1).
struct Window {
  std::int64_t start = 0;
  std::int64_t retry_after = 1;
};
Window window_at(std::int64_t now, std::chrono::seconds window);

std::string name_key(std::string_view name, std::int64_t window_start);
std::string address_key(std::string_view address, std::int64_t window_start);

class LoginLimiter {
 public:
  // What acquire() counted, for refund().
  struct Counted {
    std::string key;  // empty: not counted (Redis failed, or no name)
    std::size_t shard = 0;
  };
  struct Ticket {
    Counted address;
    Counted name;
  };

  // shards may be null (no Redis: limiting is off). Throws
  // std::invalid_argument for a zero window or limit when enabled.
  LoginLimiter(redis::Shards* shards, LoginLimitSettings settings, metrics::Registry& registry,
               UnixClock clock = system_unix_now);

  // Counts one attempt for `address` and, when non-empty, `name`. Throws
  // http::Error 429 rate_limited with Retry-After when over a limit; never
  // throws for Redis trouble (fail open).
  boost::asio::awaitable<Ticket> acquire(std::string name, std::string address);

  // Gives a successful attempt back. Never throws.
  boost::asio::awaitable<void> refund(Ticket ticket);

  bool active() const noexcept { return shards_ != nullptr && settings_.enabled; }

 private:
  // INCR + EXPIRE of `key` on `shard`; nullopt when Redis failed.
  boost::asio::awaitable<std::optional<std::int64_t>> count(std::size_t shard, std::string key);
  void redis_failed(const std::exception& error) noexcept;

  redis::Shards* shards_;
  LoginLimitSettings settings_;
  UnixClock clock_;
  metrics::Counter limited_name_;
  metrics::Counter limited_address_;
  metrics::Counter errors_;
  std::atomic<std::int64_t> last_error_log_{0};
};

}  // namespace surge::users
