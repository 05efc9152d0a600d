#include "profile/cache_admin.hpp"

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "http/error.hpp"
#include "metrics/registry.hpp"

namespace surge::profile {
namespace {

namespace asio = boost::asio;

struct Calls {
  std::vector<std::string> seen;
  bool confirm = true;
};

asio::awaitable<bool> record(Calls* calls, std::string who, std::optional<std::uint64_t> id) {
  calls->seen.push_back(who + ":" + (id ? std::to_string(*id) : "-"));
  co_return calls->confirm;
}

class CacheAdminTest : public ::testing::Test {
 protected:
  CacheAdminTest() {
    admin.register_scope(
        "user", CacheAdmin::IdRule::kRequired,
        [this](std::optional<std::uint64_t> id) { return record(&calls, "profile", id); });
    admin.register_scope(
        "user", CacheAdmin::IdRule::kRequired,
        [this](std::optional<std::uint64_t> id) { return record(&calls, "signin", id); });
    admin.register_scope(
        "catalog", CacheAdmin::IdRule::kNone,
        [this](std::optional<std::uint64_t> id) { return record(&calls, "catalog", id); });
  }

  std::string run(std::string_view body) {
    asio::io_context io;
    CacheAdmin::Request request = admin.parse(body);
    auto done = asio::co_spawn(io, admin.run(std::move(request)), asio::use_future);
    io.run();
    return done.get();
  }

  // The message of the http::Error that parsing or running throws.
  http::Error failure(std::string_view body) {
    try {
      run(body);
    } catch (const http::Error& e) {
      return e;
    }
    ADD_FAILURE() << "no error for " << body;
    return http::Error(http::Status::kOk, "", "");
  }

  metrics::Registry registry;
  CacheAdmin admin{registry};
  Calls calls;
};

TEST_F(CacheAdminTest, RunsEveryHandlerOfTheScopeInOrder) {
  EXPECT_EQ(run(R"({"scope":"user","id":42})"), R"({"scope":"user","id":42,"invalidated":true})");
  EXPECT_EQ(calls.seen, (std::vector<std::string>{"profile:42", "signin:42"}));
  EXPECT_EQ(run(R"({"scope":"catalog"})"), R"({"scope":"catalog","id":null,"invalidated":true})");
  EXPECT_TRUE(admin.has_scope("user"));
  EXPECT_FALSE(admin.has_scope("products"));
}

TEST_F(CacheAdminTest, BadRequestsNameTheField) {
  const auto check = [this](std::string_view body, std::string_view field) {
    const http::Error e = failure(body);
    EXPECT_EQ(e.status(), http::Status::kBadRequest) << body;
    EXPECT_EQ(e.code(), "invalid_request") << body;
    EXPECT_TRUE(std::string_view(e.what()).starts_with(field)) << body << " → " << e.what();
  };
  check(R"({"scope":"products","id":1})", "scope:");  // not registered (yet)
  check(R"({"scope":"nope"})", "scope:");
  check(R"({"id":1})", "scope:");
  check(R"({"scope":5})", "scope:");
  check(R"({"scope":"user"})", "id:");
  check(R"({"scope":"user","id":0})", "id:");
  check(R"({"scope":"user","id":-3})", "id:");
  check(R"({"scope":"user","id":"42"})", "id:");
  check(R"({"scope":"user","id":1.5})", "id:");
  check(R"({"scope":"catalog","id":1})", "id:");
  check(R"({"scope":"user","id":1,"extra":true})", "extra:");
  check("", "body:");
  check("[1]", "body:");
  EXPECT_TRUE(calls.seen.empty());
}

TEST_F(CacheAdminTest, UnconfirmedInvalidationIs503) {
  calls.confirm = false;
  const http::Error e = failure(R"({"scope":"user","id":7})");
  EXPECT_EQ(e.status(), http::Status::kServiceUnavailable);
  EXPECT_GT(e.retry_after().count(), 0);
  EXPECT_EQ(calls.seen.size(), 2U);  // every handler still ran
}

TEST_F(CacheAdminTest, ConflictingRegistrationsAreProgrammingErrors) {
  const auto handler = [this](std::optional<std::uint64_t> id) { return record(&calls, "x", id); };
  EXPECT_THROW(admin.register_scope("user", CacheAdmin::IdRule::kNone, handler),
               std::invalid_argument);
  EXPECT_THROW(admin.register_scope("", CacheAdmin::IdRule::kNone, handler), std::invalid_argument);
  EXPECT_THROW(admin.register_scope("x", CacheAdmin::IdRule::kNone, nullptr),
               std::invalid_argument);
}

}  // namespace
}  // namespace surge::profile
