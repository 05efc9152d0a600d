// Live tests of the accounts routes and `surge seed` against a real
// PostgreSQL (test_support::LocalServers, or SURGE_TEST_PG_PRIMARY) and a
// real redis-server started here on a free port (redis::test_support::
// LocalRedis, never SURGE_TEST_REDIS's; tests that need Redis skip when
// /usr/bin/redis-server is missing).
//
// Requests go through the real Router, AuthMiddleware and Dispatcher on I/O
// threads that the pg::Cluster and redis::Shards serve, exactly as in
// `surge serve`, minus the sockets. The clock is injected: token expiry and
// rate-limit windows are driven by the test, never by sleeping.
//
// Password hashing uses libsodium's minimum cost (t=1, 8 KiB): these tests
// check behaviour; argon2's cost is measured elsewhere (src/users/README.md).

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "http/auth.hpp"
#include "http/context.hpp"
#include "http/dispatcher.hpp"
#include "http/error.hpp"
#include "metrics/registry.hpp"
#include "pg/cluster.hpp"
#include "pg/migrate.hpp"
#include "pg/test_support/local_servers.hpp"
#include "redis/shards.hpp"
#include "redis/test_support/local_servers.hpp"
#include "users/accounts.hpp"
#include "users/commands.hpp"

namespace surge::users {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;  // NOLINT(google-build-using-namespace)
using pg::test_support::LocalServers;
using redis::test_support::LocalRedis;

constexpr std::string_view kSecret = "accounts-pgtest-secret";
constexpr std::string_view kAdmin = "accounts-pgtest-admin";
constexpr std::int64_t kStart = 1764057600;  // a window boundary for 60 s windows

// ===========================================================================
// Fixture
// ===========================================================================

struct Answer {
  unsigned status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  json::value json_body() const { return json::parse(body); }
  std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n == name) {
        return v;
      }
    }
    return {};
  }
  std::string error_code() const {
    return std::string(json_body().at("error").at("code").as_string());
  }
};

class AccountsPgTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      servers_ = new LocalServers(LocalServers::Options{.replica = false});
      database_uri_ =
          new std::string(servers_->create_database(fmt::format("accounts_pgtest_{}", ::getpid())));
      pg::migrate(*database_uri_);
      if (LocalRedis::installed()) {  // else the tests that need Redis skip
        redis_ =
            new LocalRedis(LocalRedis::Options{.from_environment = false, .start_timeout = 10s});
      }
    } catch (const std::exception& e) {
      setup_error_ = e.what();
    }
  }
  static void TearDownTestSuite() {
    delete redis_;
    redis_ = nullptr;
    delete database_uri_;
    database_uri_ = nullptr;
    delete servers_;
    servers_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    for (int i = 0; i < 2; ++i) {
      ios_.push_back(std::make_unique<asio::io_context>(1));
      guards_.emplace_back(asio::make_work_guard(*ios_.back()));
    }
    for (auto& io : ios_) {
      threads_.emplace_back([p = io.get()] { p->run(); });
    }
  }

  void TearDown() override {
    if (accounts_) {
      accounts_->stop();
    }
    if (shards_) {
      shards_->stop();
    }
    if (database_) {
      database_->stop();
    }
    guards_.clear();
    for (auto& io : ios_) {
      io->stop();
    }
    for (auto& t : threads_) {
      t.join();
    }
    accounts_.reset();
    shards_.reset();
    database_.reset();
    ios_.clear();
  }

  std::vector<asio::io_context*> contexts() const {
    std::vector<asio::io_context*> out;
    for (const auto& io : ios_) {
      out.push_back(io.get());
    }
    return out;
  }

  // Builds the accounts module over the database `uri` (default: the
  // suite's) and Redis shards at `redis_address` (none: limits off), and a
  // dispatcher with the auth middleware and protected test routes.
  void start(AccountsSettings settings, std::optional<std::string> redis_address,
             std::optional<std::string> uri = std::nullopt) {
    pg::Settings pgs;
    pgs.primary = uri ? *uri : *database_uri_;
    pgs.connections_per_thread = 2;
    pgs.query_timeout = 10s;
    database_ = std::make_unique<pg::Cluster>(pgs, contexts(), registry_);
    database_->start();
    if (redis_address) {
      redis::Settings rs;
      rs.shards.push_back(*redis_address);
      rs.connect_timeout = 2s;
      rs.command_timeout = 1s;
      shards_ = std::make_unique<redis::Shards>(rs, contexts(), registry_);
      shards_->start();
    }
    accounts_ = std::make_unique<Accounts>(*database_, shards_.get(), std::move(settings),
                                           registry_, [this] { return now_.load(); });
    accounts_->on_user_created(
        [this](std::uint64_t id, pg::Lsn lsn) { return hook(this, id, lsn); });
    http::Router router;
    accounts_->add_routes(router);
    router.add({http::Method::kGet, "/test/me", http::Auth::kUser,
                http::SyncHandler([](http::Context& ctx) {
                  ctx.response.json(http::Status::kOk,
                                    fmt::format(R"({{"id":{}}})", ctx.principal.user_id));
                })});
    router.add({http::Method::kGet, "/test/admin", http::Auth::kAdmin,
                http::SyncHandler(
                    [](http::Context& ctx) { ctx.response.json(http::Status::kOk, "{}"); })});
    dispatcher_.set_router(std::move(router));
    dispatcher_.use(std::make_unique<http::AuthMiddleware>(&accounts_->authenticator()));
  }

  static AccountsSettings settings() {
    AccountsSettings s;
    s.tokens.secret = std::string(kSecret);
    s.tokens.admin_token = std::string(kAdmin);
    s.tokens.ttl = 3600s;
    s.passwords.opslimit = 1;
    s.passwords.memlimit = 8192;
    return s;
  }

  struct Call {
    http::Method method;
    std::string path;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
  };

  // One request through the dispatcher on I/O thread `thread`.
  static asio::awaitable<Answer> serve(http::Dispatcher* dispatcher, Call call) {
    http::Request request;
    request.method = call.method;
    request.method_text = http::method_name(call.method);
    request.target = call.path;
    request.path = call.path;
    request.body = call.body;
    for (const auto& [n, v] : call.headers) {
      request.headers.push_back({n, v});
    }
    http::Response response;
    http::Context ctx(request, response, co_await asio::this_coro::executor);
    if (const http::AsyncHandler* h = dispatcher->begin(ctx)) {
      try {
        co_await (*h)(ctx);
      } catch (...) {
        dispatcher->fail(ctx, std::current_exception());
      }
    }
    dispatcher->finish(ctx);
    Answer a;
    a.status = http::code(response.status);
    a.body = response.body;
    for (const auto& f : response.fields) {
      a.headers.emplace_back(std::string(f.name), f.value);
    }
    co_return a;
  }

  Answer request(Call call, std::size_t thread = 0) {
    auto f =
        asio::co_spawn(*ios_.at(thread), serve(&dispatcher_, std::move(call)), asio::use_future);
    if (f.wait_for(60s) != std::future_status::ready) {
      throw std::runtime_error("request did not finish in 60 s");
    }
    return f.get();
  }

  Answer post(std::string path, std::string body,
              std::vector<std::pair<std::string, std::string>> headers = {}) {
    return request({http::Method::kPost, std::move(path), std::move(body), std::move(headers)});
  }
  Answer register_user(std::string_view name, std::string_view password) {
    return post("/api/v1/users", fmt::format(R"({{"name":"{}","password":"{}"}})", name, password));
  }
  Answer login(std::string_view name, std::string_view password,
               std::vector<std::pair<std::string, std::string>> headers = {}) {
    return post("/api/v1/sessions",
                fmt::format(R"({{"name":"{}","password":"{}"}})", name, password),
                std::move(headers));
  }
  Answer get(std::string path, std::string_view token) {
    return request({http::Method::kGet,
                    std::move(path),
                    "",
                    {{"Authorization", fmt::format("Bearer {}", token)}}});
  }

  // The user-created hook: a named coroutine (STYLE.md 15), parameters by value.
  static asio::awaitable<void> hook(AccountsPgTest* self, std::uint64_t id, pg::Lsn lsn) {
    self->hooked_id_ = id;
    self->hooked_lsn_ = lsn;
    co_return;
  }

  static std::string unique(std::string_view prefix) {
    static std::atomic<int> n{0};
    return fmt::format("{}{}x{}", prefix, ::getpid(), n.fetch_add(1));
  }

  double metric(const std::string& series) const {
    const std::string text = registry_.render();
    const std::size_t at = text.find("\n" + series + " ");
    return at == std::string::npos ? -1 : std::stod(text.substr(at + series.size() + 2));
  }

  static LocalServers* servers_;
  static std::string* database_uri_;
  static LocalRedis* redis_;
  static std::string setup_error_;

  metrics::Registry registry_;  // first: outlives everything that records
  std::atomic<std::int64_t> now_{kStart + 30};
  std::atomic<std::uint64_t> hooked_id_{0};
  std::atomic<pg::Lsn> hooked_lsn_{0};
  std::vector<std::unique_ptr<asio::io_context>> ios_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::unique_ptr<pg::Cluster> database_;
  std::unique_ptr<redis::Shards> shards_;
  std::unique_ptr<Accounts> accounts_;
  http::Dispatcher dispatcher_;
};

LocalServers* AccountsPgTest::servers_ = nullptr;
std::string* AccountsPgTest::database_uri_ = nullptr;
LocalRedis* AccountsPgTest::redis_ = nullptr;
std::string AccountsPgTest::setup_error_;

// ===========================================================================
// Registration
// ===========================================================================

TEST_F(AccountsPgTest, RegistersAndRefusesADuplicateName) {
  start(settings(), std::nullopt);
  const std::string name = unique("reg");
  const Answer a = register_user(name, "password123");
  ASSERT_EQ(a.status, 201U) << a.body;
  const auto body = a.json_body().as_object();
  const std::int64_t id = body.at("id").as_int64();
  EXPECT_GT(id, 0);
  EXPECT_EQ(body.at("name").as_string(), name);
  EXPECT_EQ(body.size(), 2U);
  EXPECT_EQ(a.header("Location"), fmt::format("/api/v1/users/{}", id));
  // The stored hash is argon2id with the configured cost.
  const std::string hash = LocalServers::query(
      *database_uri_, fmt::format("SELECT password_hash FROM users WHERE id = {}", id));
  EXPECT_EQ(hash.rfind("$argon2id$v=19$m=8,t=1,p=1$", 0), 0U) << hash;
  // Read-your-writes marker for the new user.
  EXPECT_NE(database_->user_min_lsn(static_cast<std::uint64_t>(id)), 0U);

  // The hook saw the new id and its commit LSN.
  EXPECT_EQ(hooked_id_.load(), static_cast<std::uint64_t>(id));
  EXPECT_NE(hooked_lsn_.load(), 0U);

  const Answer again = register_user(name, "another-password");
  EXPECT_EQ(again.status, 409U);
  EXPECT_EQ(again.error_code(), "name_taken");
  EXPECT_EQ(metric(R"(surge_users_registrations_total{result="name_taken"})"), 1);
}

TEST_F(AccountsPgTest, RegistrationNamesTheBadField) {
  start(settings(), std::nullopt);
  const struct {
    std::string body;
    std::string field;
  } cases[] = {
      {R"({"password":"password123"})", "name"},
      {R"({"name":"abcdef"})", "password"},
      {R"({"name":7,"password":"password123"})", "name"},
      {R"({"name":"abcdef","password":12345678})", "password"},
      {R"({"name":"ab","password":"password123"})", "name"},
      {R"({"name":"a-b-c","password":"password123"})", "name"},
      {R"({"name":"abcdef","password":"1234567"})", "password"},
      {"{", "body"},
      {"[]", "body"},
      {"", "body"},
  };
  for (const auto& c : cases) {
    const Answer a = post("/api/v1/users", c.body);
    EXPECT_EQ(a.status, 400U) << c.body;
    EXPECT_EQ(a.error_code(), "invalid_request") << c.body;
    const std::string message(a.json_body().at("error").at("message").as_string());
    EXPECT_EQ(message.rfind(c.field + ":", 0), 0U) << c.body << " → " << message;
  }
}

// ===========================================================================
// Login and tokens
// ===========================================================================

TEST_F(AccountsPgTest, LoginIssuesATokenThatAuthenticates) {
  start(settings(), std::nullopt);
  const std::string name = unique("login");
  const Answer reg = register_user(name, "p\\u00e4ssw\\u00f6rt");  // 8 code points, 10 bytes
  ASSERT_EQ(reg.status, 201U) << reg.body;
  const std::int64_t id = reg.json_body().at("id").as_int64();

  const Answer a = login(name, "p\\u00e4ssw\\u00f6rt");
  ASSERT_EQ(a.status, 200U) << a.body;
  const auto body = a.json_body().as_object();
  EXPECT_EQ(body.size(), 3U);
  EXPECT_EQ(body.at("user_id").as_int64(), id);
  const std::int64_t expires = now_.load() + 3600;
  EXPECT_EQ(body.at("expires_at").as_string(), rfc3339_utc(expires));
  const std::string token(body.at("token").as_string());
  EXPECT_EQ(token, TokenSigner(kSecret).sign(static_cast<std::uint64_t>(id), expires));
  EXPECT_EQ(a.header("Cache-Control"), "no-store");

  const Answer me = get("/test/me", token);
  EXPECT_EQ(me.status, 200U);
  EXPECT_EQ(me.json_body().at("id").as_int64(), id);
  // A user token on an admin route: 403; the admin token there: 200.
  EXPECT_EQ(get("/test/admin", token).status, 403U);
  EXPECT_EQ(get("/test/admin", kAdmin).status, 200U);
  EXPECT_EQ(get("/test/me", kAdmin).status, 401U);
  // Expired once the clock reaches expires_at.
  now_ = expires;
  const Answer expired = get("/test/me", token);
  EXPECT_EQ(expired.status, 401U);
  EXPECT_EQ(expired.error_code(), "unauthorized");
}

TEST_F(AccountsPgTest, WrongPasswordAndUnknownNameAnswerAlike) {
  start(settings(), std::nullopt);
  const std::string name = unique("wrong");
  ASSERT_EQ(register_user(name, "password123").status, 201U);
  const Answer wrong = login(name, "password124");
  const Answer unknown = login(unique("nobody"), "password123");
  const Answer impossible = login("x", "password123");
  for (const Answer* a : {&wrong, &unknown, &impossible}) {
    EXPECT_EQ(a->status, 401U);
    EXPECT_EQ(a->body, wrong.body);
  }
  EXPECT_EQ(wrong.error_code(), "invalid_credentials");
  // The unknown name was checked against the dummy hash, on the pool.
  EXPECT_EQ(metric(R"(surge_users_password_seconds_count{op="verify"})"), 2);
}

TEST_F(AccountsPgTest, LoginWithoutSecretIsUnavailable) {
  AccountsSettings s = settings();
  s.tokens.secret.clear();
  start(s, std::nullopt);
  const Answer a = login("someone", "password123");
  EXPECT_EQ(a.status, 503U);
  EXPECT_EQ(a.header("Retry-After"), "1");
}

// ===========================================================================
// Rate limiting (needs Redis)
// ===========================================================================

TEST_F(AccountsPgTest, FailedLoginsPerNameAreLimitedUntilTheWindowEnds) {
  if (redis_ == nullptr) {
    GTEST_SKIP() << "redis-server not installed";
  }
  start(settings(), redis_->address());
  const std::string name = unique("limited");
  ASSERT_EQ(register_user(name, "password123").status, 201U);
  now_ = kStart + 45;
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(login(name, "wrong-password").status, 401U) << i;
  }
  const Answer limited = login(name, "password123");
  EXPECT_EQ(limited.status, 429U) << limited.body;
  EXPECT_EQ(limited.error_code(), "rate_limited");
  EXPECT_EQ(limited.header("Retry-After"), "15");  // kStart + 60 - (kStart + 45)
  EXPECT_EQ(metric(R"(surge_users_login_limited_total{limit="name"})"), 1);
  // The next window starts afresh.
  now_ = kStart + 60;
  EXPECT_EQ(login(name, "password123").status, 200U);
}

TEST_F(AccountsPgTest, SuccessfulLoginsAreRefunded) {
  if (redis_ == nullptr) {
    GTEST_SKIP() << "redis-server not installed";
  }
  start(settings(), redis_->address());
  const std::string name = unique("refund");
  ASSERT_EQ(register_user(name, "password123").status, 201U);
  now_ = kStart + 120;
  for (int i = 0; i < 9; ++i) {
    EXPECT_EQ(login(name, "wrong-password").status, 401U);
  }
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(login(name, "password123").status, 200U) << i;
  }
  // Still one failure left in the window, then the limit.
  EXPECT_EQ(login(name, "wrong-password").status, 401U);
  EXPECT_EQ(login(name, "wrong-password").status, 429U);
}

TEST_F(AccountsPgTest, FailedLoginsPerAddressAreLimited) {
  if (redis_ == nullptr) {
    GTEST_SKIP() << "redis-server not installed";
  }
  AccountsSettings s = settings();
  s.login_limits.per_address = 5;
  start(s, redis_->address());
  const std::string name = unique("addr");
  ASSERT_EQ(register_user(name, "password123").status, 201U);
  now_ = kStart + 180;
  const std::vector<std::pair<std::string, std::string>> from = {{"X-Real-IP", "203.0.113.5"}};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(login(unique("ghost"), "password123", from).status, 401U);
  }
  EXPECT_EQ(login(name, "password123", from).status, 429U);
  EXPECT_EQ(login(name, "password123", {{"X-Real-IP", "203.0.113.6"}}).status, 200U);
  EXPECT_EQ(metric(R"(surge_users_login_limited_total{limit="address"})"), 1);
}

TEST_F(AccountsPgTest, RedisDownFailsOpen) {
  start(settings(),
        fmt::format("127.0.0.1:{}", redis::test_support::free_loopback_port()));  // nothing listens
  const std::string name = unique("open");
  ASSERT_EQ(register_user(name, "password123").status, 201U);
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(login(name, "wrong-password").status, 401U) << i;
  }
  EXPECT_EQ(login(name, "password123").status, 200U);
  EXPECT_GE(metric("surge_users_login_limit_errors_total"), 12);
}

// ===========================================================================
// surge seed
// ===========================================================================

TEST_F(AccountsPgTest, SeedIsIdempotentAndMovesTheSequence) {
  // A database of its own: the other tests' registrations took low ids.
  const std::string uri = servers_->create_database(fmt::format("accounts_seed_{}", ::getpid()));
  pg::migrate(uri);
  start(settings(), std::nullopt, uri);
  SeedOptions options;
  options.database_uri = uri;
  options.users = 120;
  options.batch = 50;
  options.products = 3;
  options.hashing.opslimit = 1;
  options.hashing.memlimit = 8192;
  const SeedReport first = seed(options, nullptr);
  EXPECT_EQ(first.users_inserted, 120U);
  EXPECT_GE(first.next_user_id, 121);
  const SeedReport second = seed(options, nullptr);
  EXPECT_EQ(second.users_inserted, 0U);
  EXPECT_EQ(second.products_inserted, 0U);
  EXPECT_EQ(LocalServers::query(uri,
                                "SELECT count(*) FROM users WHERE id BETWEEN 1 AND 120"
                                " AND name = 'user' || id"),
            "120");
  // Seeded users log in with the demo password; registration draws above.
  const Answer a = login("user77", "surge-demo");
  ASSERT_EQ(a.status, 200U) << a.body;
  EXPECT_EQ(a.json_body().at("user_id").as_int64(), 77);
  const Answer reg = register_user(unique("after"), "password123");
  ASSERT_EQ(reg.status, 201U);
  EXPECT_GT(reg.json_body().at("id").as_int64(), 120);

  // Seeding over that account is refused, naming the lowest id in the way.
  options.users = static_cast<std::uint64_t>(reg.json_body().at("id").as_int64()) + 10;
  const std::string first_taken =
      LocalServers::query(uri, "SELECT min(id) FROM users WHERE name <> 'user' || id");
  try {
    (void)seed(options, nullptr);
    ADD_FAILURE() << "seed over a registered account succeeded";
  } catch (const SeedConflict& e) {
    EXPECT_NE(std::string(e.what()).find(fmt::format("user id {} ", first_taken)),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(LocalServers::query(uri, fmt::format("SELECT count(*) FROM users WHERE name = 'user{}'",
                                                 options.users)),
            "0");
}

}  // namespace
}  // namespace surge::users
