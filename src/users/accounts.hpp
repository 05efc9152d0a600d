#pragma once

// Accounts: registration, login and the user tokens of API.md §1–§2.
//
//   POST /api/v1/users     {"name","password"} → 201 {"id","name"}
//                          400 invalid_request (names the field),
//                          409 name_taken, 503 unavailable
//   POST /api/v1/sessions  {"name","password"} → 200 {"token","user_id","expires_at"}
//                          400 invalid_request, 401 invalid_credentials,
//                          429 rate_limited, 503 unavailable
//
// Wiring (app/serve.cpp), after the data tier exists:
//
//   users::Accounts accounts(*tier.database, tier.redis.get(), settings, registry);
//   accounts.add_routes(router);
//   build_chain(dispatcher, config, registry, &accounts.authenticator());
//   ...
//   server.wait();
//   accounts.stop();   // before tier.stop(); see Lifecycle
//
// Registration: name and password are checked (credentials.hpp), the
// password is hashed with argon2id on the hashing pool (password.hpp), then
// one INSERT on the primary draws the id from users_id_seq — above the seeded
// range, since `surge seed` moves the sequence past it. The unique key
// users_name_key answers 409 (pg::Error class + constraint name, never the
// message). The commit's LSN is noted for the new user (read-your-writes,
// this process), and the user-created hook, if any, runs (the profile
// module's after_write: see UserCreatedHook).
//
// Login: the attempt is counted by the LoginLimiter (login_limiter.hpp)
// before anything else; the row is read on the PRIMARY (a replica may not
// have the account registered a moment ago); the password is verified on
// the pool — against a dummy hash when the name is unknown, so both cases
// cost one argon2 verification and answer the same 401; a success refunds
// the attempt and signs a token valid for settings.tokens.ttl.
//
// Failures of the database (unreachable, timed out, read-only) and a full
// hashing queue answer 503 unavailable with Retry-After: 1.
//
// Thread safety: handlers run on every I/O thread at once; the object is
// immutable after add_routes() except for its internally synchronised
// parts. Lifecycle: construct (before the server starts) → add_routes →
// serve → stop() after the HTTP server has drained (Server::wait()) and
// before the io_contexts are destroyed; the Cluster, the Shards and the
// Registry MUST outlive the Accounts.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "http/middleware.hpp"
#include "http/router.hpp"
#include "metrics/registry.hpp"
#include "pg/cluster.hpp"
#include "redis/shards.hpp"
#include "users/login_limiter.hpp"
#include "users/password.hpp"
#include "users/token.hpp"

namespace surge::http {
class Context;
}

namespace surge::users {

struct TokenSettings {
  std::string secret;               // signs user tokens; "" = login answers 503
  std::string admin_token;          // "" = no admin token matches
  std::chrono::seconds ttl{86400};  // lifetime of a token from login, > 0
};

struct AccountsSettings {
  TokenSettings tokens;
  PasswordSettings passwords;
  LoginLimitSettings login_limits;
};

class Accounts {
 public:
  // Called after a registration committed at `lsn`, on the I/O thread of
  // the request, before the 201 is sent; its exceptions are logged and
  // swallowed (the account exists). The profile module's
  // ProfileStore::after_write(user_id, lsn) belongs here: it drops a cached
  // "absent" entry for the new id and sets the read-your-writes marker on
  // every server.
  using UserCreatedHook =
      std::function<boost::asio::awaitable<void>(std::uint64_t user_id, pg::Lsn lsn)>;

  // redis may be null (login limits off). Throws std::invalid_argument for
  // unusable settings (zero ttl, pool size, limits).
  Accounts(pg::Cluster& database, redis::Shards* redis, AccountsSettings settings,
           metrics::Registry& registry, UnixClock clock = system_unix_now);
  ~Accounts();
  Accounts(const Accounts&) = delete;
  Accounts& operator=(const Accounts&) = delete;
  Accounts(Accounts&&) = delete;
  Accounts& operator=(Accounts&&) = delete;

  // Adds POST /api/v1/users and POST /api/v1/sessions (both public).
  void add_routes(http::Router& router);

  // The token authenticator for http::AuthMiddleware; lives as long as this.
  const TokenAuthenticator& authenticator() const noexcept { return authenticator_; }

  // Before the server starts.
  void on_user_created(UserCreatedHook hook) { on_user_created_ = std::move(hook); }

  // Waits for the hashing pool's jobs and refuses new ones. Idempotent.
  void stop();

 private:
  boost::asio::awaitable<void> handle_register(http::Context& ctx);
  boost::asio::awaitable<void> handle_login(http::Context& ctx);

  pg::Cluster& database_;
  AccountsSettings settings_;
  UnixClock clock_;
  TokenAuthenticator authenticator_;
  LoginLimiter limiter_;
  UserCreatedHook on_user_created_;

  metrics::Counter registered_;
  metrics::Counter name_taken_;
  metrics::Counter login_ok_;
  metrics::Counter login_failed_;

  // Last: its pool stops (joins) before the members its jobs use go.
  PasswordHasher hasher_;
};

// RFC 3339 UTC with second precision: "2026-11-25T08:00:00Z".
std::string rfc3339_utc(std::int64_t unix_seconds);

}  // namespace surge::users
