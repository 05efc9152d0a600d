#include "users/accounts.hpp"

#include <ctime>
#include <exception>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

#include "http/context.hpp"
#include "http/error.hpp"
#include "http/json_body.hpp"
#include "log/log.hpp"
#include "pg/lsn.hpp"
#include "users/credentials.hpp"

namespace surge::users {

namespace asio = boost::asio;

namespace {

constexpr std::chrono::seconds kRetryAfter{1};

http::Error invalid_credentials() {
  return {http::Status::kUnauthorized, "invalid_credentials", "wrong name or password"};
}

// The database cannot serve now (unreachable, timed out, a standby): 503.
// Anything else is a bug or a schema problem: rethrown, answered 500.
// MUST be called from the handler of `e` (it rethrows the current exception).
[[noreturn]] void throw_database_error(const pg::Error& e) {
  using C = pg::Error::Class;
  switch (e.error_class()) {
    case C::kConnection:
    case C::kQueryCanceled:
    case C::kReadOnly:
      throw http::Error::unavailable("the database is unavailable; retry shortly", kRetryAfter);
    default:
      throw;
  }
}

}  // namespace

std::string rfc3339_utc(std::int64_t unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) {
    throw std::out_of_range("rfc3339_utc: time out of range");
  }
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

Accounts::Accounts(pg::Cluster& database, redis::Shards* redis, AccountsSettings settings,
                   metrics::Registry& registry, UnixClock clock)
    : database_(database),
      settings_(std::move(settings)),
      clock_(clock ? std::move(clock) : UnixClock(system_unix_now)),
      authenticator_(settings_.tokens.secret, settings_.tokens.admin_token, clock_),
      limiter_(redis, settings_.login_limits, registry, clock_),
      registered_(registry.counter("surge_users_registrations_total", "Registrations by result.",
                                   {{"result", "created"}})),
      name_taken_(registry.counter("surge_users_registrations_total", "Registrations by result.",
                                   {{"result", "name_taken"}})),
      login_ok_(
          registry.counter("surge_users_logins_total", "Logins by result.", {{"result", "ok"}})),
      login_failed_(registry.counter("surge_users_logins_total", "Logins by result.",
                                     {{"result", "invalid_credentials"}})),
      hasher_(settings_.passwords, registry) {
  if (settings_.tokens.ttl.count() <= 0) {
    throw std::invalid_argument("accounts: token ttl must be positive");
  }
  if (!authenticator_.signer().configured()) {
    log::warn("accounts: no token secret configured; login answers 503 and no token verifies");
  }
  if (!limiter_.active()) {
    log::info("accounts: login rate limiting is off",
              {{"reason", redis == nullptr ? "no redis shards" : "disabled"}});
  }
  // Never the values: only whether they are set.
}

Accounts::~Accounts() {
  stop();
}

void Accounts::stop() {
  hasher_.stop();
}

void Accounts::add_routes(http::Router& router) {
  // The lambdas only forward to member coroutines (they are not coroutines
  // themselves), so nothing a coroutine needs lives in a lambda capture.
  router.add({http::Method::kPost, "/api/v1/users", http::Auth::kNone,
              http::AsyncHandler([this](http::Context& ctx) { return handle_register(ctx); })});
  router.add({http::Method::kPost, "/api/v1/sessions", http::Auth::kNone,
              http::AsyncHandler([this](http::Context& ctx) { return handle_login(ctx); })});
}

// ---------------------------------------------------------------------------
// POST /api/v1/users
// ---------------------------------------------------------------------------

asio::awaitable<void> Accounts::handle_register(http::Context& ctx) {
  std::string name;
  std::string password;
  {
    const http::JsonBody body(ctx.request);
    name = std::string(body.required_string("name"));
    password = std::string(body.required_string("password"));
  }
  if (const auto why = name_problem(name)) {
    throw http::Error::invalid_request("name", *why);
  }
  if (const auto why = password_problem(password)) {
    throw http::Error::invalid_request("password", *why);
  }

  std::string hash;
  try {
    hash = co_await hasher_.hash(std::move(password));
  } catch (const Overloaded&) {
    throw http::Error::unavailable("too many registrations in progress; retry shortly",
                                   kRetryAfter);
  }

  std::uint64_t id = 0;
  pg::Lsn lsn = 0;
  try {
    pg::Statement insert("INSERT INTO users (name, password_hash) VALUES ($1, $2) RETURNING id",
                         pg::params(name, hash));
    const pg::WriteResult w = co_await database_.transaction(std::move(insert));
    id = w.results.at(0).get<std::uint64_t>(0, 0);
    lsn = w.lsn;
  } catch (const pg::Error& e) {
    if (e.error_class() == pg::Error::Class::kUniqueViolation &&
        e.constraint() == "users_name_key") {
      name_taken_.add();
      throw http::Error(http::Status::kConflict, "name_taken", "this name is already taken");
    }
    throw_database_error(e);
  }
  database_.note_write(id, lsn);
  registered_.add();

  if (on_user_created_) {
    try {
      co_await on_user_created_(id, lsn);
    } catch (const std::exception& e) {
      log::warn("accounts: user-created hook failed", {{"user_id", id}, {"error", e.what()}});
    }
  }

  ctx.response.json(http::Status::kCreated,
                    fmt::format(R"({{"id":{},"name":"{}"}})", id, name));  // name is [A-Za-z0-9_]
  ctx.response.set("Location", fmt::format("/api/v1/users/{}", id));
}

// ---------------------------------------------------------------------------
// POST /api/v1/sessions
// ---------------------------------------------------------------------------

asio::awaitable<void> Accounts::handle_login(http::Context& ctx) {
  std::string name;
  std::string password;
  {
    const http::JsonBody body(ctx.request);
    name = std::string(body.required_string("name"));
    password = std::string(body.required_string("password"));
  }
  if (!authenticator_.signer().configured()) {
    throw http::Error::unavailable("login is not configured on this server", kRetryAfter);
  }

  // Credentials no registration could have produced fail at once (their
  // shape is public knowledge); the name is then not counted either, so
  // arbitrary bytes never become Redis keys.
  const bool plausible = valid_name(name) && valid_password(password);
  // Named arguments only: GCC 12 mis-compiles some temporaries inside a
  // co_await expression (a `?:` prvalue std::string here was freed twice).
  std::string counted_name = plausible ? name : std::string();
  std::string address = client_address(ctx.request);
  LoginLimiter::Ticket ticket =
      co_await limiter_.acquire(std::move(counted_name), std::move(address));
  if (!plausible) {
    login_failed_.add();
    throw invalid_credentials();
  }

  // An attempt that ends in 503 (database unavailable, hash pool full)
  // checked no password: its count is refunded like a success's, or a
  // burst of logins from one address would leave the address throttled
  // for the rest of the window. (No co_await inside a handler: the
  // exception is kept and rethrown after the refund.)
  std::optional<std::uint64_t> user_id;
  std::string hash;
  std::exception_ptr undecided;
  try {
    std::string sql = "SELECT id, password_hash FROM users WHERE name = $1";
    pg::Params params = pg::params(name);
    const pg::Result r =
        co_await database_.read(std::move(sql), std::move(params), pg::kPrimaryLsn);
    if (!r.empty()) {
      user_id = r.get<std::uint64_t>(0, 0);
      hash = r.get<std::string>(0, 1);
    }
  } catch (const pg::Error&) {
    undecided = std::current_exception();
  }

  bool ok = false;
  if (!undecided) {
    try {
      if (user_id) {
        ok = co_await hasher_.verify(std::move(hash), std::move(password));
      } else {
        co_await hasher_.verify_dummy(std::move(password));
      }
    } catch (const Overloaded&) {
      undecided = std::current_exception();
    }
  }
  if (undecided) {
    co_await limiter_.refund(std::move(ticket));
    try {
      std::rethrow_exception(undecided);
    } catch (const pg::Error& e) {
      throw_database_error(e);
    } catch (const Overloaded&) {
      throw http::Error::unavailable("too many logins in progress; retry shortly", kRetryAfter);
    }
  }
  if (!ok) {
    login_failed_.add();
    throw invalid_credentials();
  }

  co_await limiter_.refund(std::move(ticket));
  login_ok_.add();
  const std::int64_t expires = clock_() + settings_.tokens.ttl.count();
  const std::string token = authenticator_.signer().sign(*user_id, expires);
  ctx.response.json(http::Status::kOk,
                    fmt::format(R"({{"token":"{}","user_id":{},"expires_at":"{}"}})", token,
                                *user_id, rfc3339_utc(expires)));
  // A token is a credential: no cache may keep this answer.
  ctx.response.set("Cache-Control", "no-store");
}

}  // namespace surge::users
