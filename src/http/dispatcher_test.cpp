#include "http/dispatcher.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "http/auth.hpp"
#include "http/error.hpp"
#include "http/request_id.hpp"

namespace surge::http {
namespace {

using namespace std::chrono_literals;

class FakeAuthenticator final : public Authenticator {
 public:
  std::optional<std::uint64_t> verify_user_token(std::string_view token) const override {
    if (token == "user-token") {
      return 7;
    }
    if (token == "other-user") {
      return 8;
    }
    return std::nullopt;
  }
  bool is_admin_token(std::string_view token) const override { return token == "admin-token"; }
};

// An exception type src/http does not know, as it knows neither pg::Error
// nor redis::Error: only a registered translator can map it.
class ForeignError : public std::runtime_error {
 public:
  explicit ForeignError(bool transient)
      : std::runtime_error("foreign failure"), transient_(transient) {}
  bool transient() const { return transient_; }

 private:
  bool transient_;
};

std::optional<Error> transient_foreign(const std::exception& e) {
  const auto* foreign = dynamic_cast<const ForeignError*>(&e);
  if (foreign == nullptr || !foreign->transient()) {
    return std::nullopt;
  }
  return Error::unavailable("backend unavailable, retry later", 3s);
}

std::optional<Error> any_foreign_is_gone(const std::exception& e) {
  if (dynamic_cast<const ForeignError*>(&e) == nullptr) {
    return std::nullopt;
  }
  return Error(Status::kGone, "gone", "translated second");
}

std::optional<Error> throwing_translator(const std::exception& /*e*/) {
  throw std::logic_error("a translator bug");
}

// Records before()/after() calls, to check the order of the chain.
class Recorder final : public Middleware {
 public:
  Recorder(std::string name, std::vector<std::string>& log) : name_(std::move(name)), log_(log) {}
  void before(Context& /*ctx*/) override { log_.push_back("before " + name_); }
  void after(Context& /*ctx*/) noexcept override { log_.push_back("after " + name_); }

 private:
  std::string name_;
  std::vector<std::string>& log_;
};

// Result of one request through the dispatcher.
struct Outcome {
  Response response;
  std::string request_id;
  Principal principal;
  std::string param;
  bool async = false;

  unsigned status() const { return code(response.status); }
  std::optional<std::string> field(std::string_view name) const {
    for (const auto& f : response.fields) {
      if (f.name == name) {
        return f.value;
      }
    }
    return std::nullopt;
  }
};

class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest() : dispatcher_(make_router()) {
    dispatcher_.use(std::make_unique<RequestIdMiddleware>());
    dispatcher_.use(std::make_unique<Recorder>("rec", log_));
    dispatcher_.use(std::make_unique<AuthMiddleware>(&auth_));
  }

  static Router make_router() {
    Router r;
    r.add({Method::kGet, "/hello", Auth::kNone, SyncHandler([](Context& ctx) {
             ctx.response.json(Status::kOk, R"({"hello":"world"})");
           })});
    r.add({Method::kPost, "/hello", Auth::kNone,
           SyncHandler([](Context& ctx) { ctx.response.json(Status::kCreated, "{}"); })});
    r.add({Method::kGet, "/users/{id}", Auth::kNone, SyncHandler([](Context& ctx) {
             ctx.response.json(Status::kOk, R"({"id":")" + std::string(ctx.param("id")) + R"("})");
           })});
    r.add({Method::kPost, "/names", Auth::kNone, SyncHandler([](Context& ctx) {
             ctx.response.set("X-Partial", "yes");
             throw Error(Status::kConflict, "name_taken", "the name \"x\" is taken");
           })});
    r.add({Method::kGet, "/boom", Auth::kNone,
           SyncHandler([](Context&) { throw std::runtime_error("secret detail"); })});
    r.add({Method::kGet, "/busy", Auth::kNone,
           SyncHandler([](Context&) { throw Error::unavailable("database overloaded", 7s); })});
    r.add({Method::kGet, "/foreign/transient", Auth::kNone,
           SyncHandler([](Context&) { throw ForeignError(true); })});
    r.add({Method::kGet, "/foreign/permanent", Auth::kNone, SyncHandler([](Context& ctx) {
             ctx.response.set("X-Partial", "yes");
             throw ForeignError(false);
           })});
    r.add({Method::kGet, "/me", Auth::kUser, SyncHandler([](Context& ctx) {
             ctx.response.json(Status::kOk, std::to_string(ctx.principal.user_id));
           })});
    r.add({Method::kGet, "/admin", Auth::kAdmin,
           SyncHandler([](Context& ctx) { ctx.response.json(Status::kOk, "{\"admin\":true}"); })});
    r.add({Method::kGet, "/async", Auth::kNone,
           AsyncHandler([](Context&) -> boost::asio::awaitable<void> { co_return; })});
    return r;
  }

  Outcome run(Method method, std::string_view path, std::vector<Header> headers = {}) {
    Request req;
    req.method = method;
    req.method_text = method_name(method);
    req.target = path;
    req.path = path;
    req.headers = std::move(headers);
    Outcome out;
    Context ctx(req, out.response, io_.get_executor());
    const AsyncHandler* async = dispatcher_.begin(ctx);
    out.async = async != nullptr;
    dispatcher_.finish(ctx);
    out.request_id = std::string(ctx.request_id);
    out.principal = ctx.principal;
    out.param = std::string(ctx.param("id"));
    return out;
  }

  Outcome run_with_token(std::string_view path, std::string_view authorization) {
    return run(Method::kGet, path, {{"Authorization", authorization}});
  }

  boost::asio::io_context io_;
  FakeAuthenticator auth_;
  std::vector<std::string> log_;
  Dispatcher dispatcher_;
};

// The API.md §1 error body, exactly: one "error" member holding exactly
// "code" and "message".
void expect_error_body(const Outcome& out, std::string_view want_code,
                       std::string_view want_message) {
  EXPECT_EQ(out.response.content_type, "application/json");
  const auto doc = boost::json::parse(out.response.body);
  ASSERT_TRUE(doc.is_object()) << out.response.body;
  ASSERT_EQ(doc.as_object().size(), 1U) << out.response.body;
  const auto* error = doc.as_object().if_contains("error");
  ASSERT_NE(error, nullptr) << out.response.body;
  ASSERT_TRUE(error->is_object());
  EXPECT_EQ(error->as_object().size(), 2U) << out.response.body;
  EXPECT_EQ(std::string(error->at("code").as_string().c_str()), want_code) << out.response.body;
  EXPECT_EQ(std::string(error->at("message").as_string().c_str()), want_message)
      << out.response.body;
}

TEST_F(DispatcherTest, RunsSyncHandler) {
  const Outcome out = run(Method::kGet, "/hello");
  EXPECT_EQ(out.status(), 200U);
  EXPECT_EQ(out.response.body, R"({"hello":"world"})");
  EXPECT_FALSE(out.async);

  EXPECT_EQ(run(Method::kPost, "/hello").status(), 201U);
}

TEST_F(DispatcherTest, PathParamsReachHandler) {
  const Outcome out = run(Method::kGet, "/users/abc");
  EXPECT_EQ(out.status(), 200U);
  EXPECT_EQ(out.response.body, R"({"id":"abc"})");
  EXPECT_EQ(out.param, "abc");
}

TEST_F(DispatcherTest, HeadRunsGetHandler) {
  const Outcome out = run(Method::kHead, "/hello");
  EXPECT_EQ(out.status(), 200U);
}

TEST_F(DispatcherTest, NotFound) {
  const Outcome out = run(Method::kGet, "/nope");
  EXPECT_EQ(out.status(), 404U);
  EXPECT_EQ(out.response.body,
            R"({"error":{"code":"not_found","message":"no route for this path"}})");
  expect_error_body(out, "not_found", "no route for this path");
  EXPECT_FALSE(out.field("Allow").has_value());
}

TEST_F(DispatcherTest, MethodNotAllowedCarriesAllow) {
  const Outcome out = run(Method::kDelete, "/hello");
  EXPECT_EQ(out.status(), 405U);
  expect_error_body(out, "method_not_allowed", "method not allowed on this path");
  EXPECT_EQ(out.field("Allow"), "GET, HEAD, POST");

  const Outcome only_get = run(Method::kPut, "/users/1");
  EXPECT_EQ(only_get.status(), 405U);
  EXPECT_EQ(only_get.field("Allow"), "GET, HEAD");
}

TEST_F(DispatcherTest, HandlerErrorMapsToStatusAndBody) {
  const Outcome out = run(Method::kPost, "/names");
  EXPECT_EQ(out.status(), 409U);
  EXPECT_EQ(out.response.body,
            R"({"error":{"code":"name_taken","message":"the name \"x\" is taken"}})");
  expect_error_body(out, "name_taken", "the name \"x\" is taken");
  // A header the handler set before failing is dropped.
  EXPECT_FALSE(out.field("X-Partial").has_value());
}

TEST_F(DispatcherTest, UnexpectedExceptionIs500Internal) {
  const Outcome out = run(Method::kGet, "/boom");
  EXPECT_EQ(out.status(), 500U);
  expect_error_body(out, "internal", "internal server error");
  EXPECT_EQ(out.response.body.find("secret"), std::string::npos);  // no detail leaks
}

TEST_F(DispatcherTest, UnavailableCarriesRetryAfter) {
  const Outcome out = run(Method::kGet, "/busy");
  EXPECT_EQ(out.status(), 503U);
  expect_error_body(out, "unavailable", "database overloaded");
  EXPECT_EQ(out.field("Retry-After"), "7");
}

// ---------------------------------------------------------------------------
// Error translators
// ---------------------------------------------------------------------------

TEST_F(DispatcherTest, ForeignExceptionWithoutTranslatorIs500) {
  const Outcome out = run(Method::kGet, "/foreign/transient");
  EXPECT_EQ(out.status(), 500U);
  expect_error_body(out, "internal", "internal server error");
  EXPECT_FALSE(out.field("Retry-After").has_value());
}

TEST_F(DispatcherTest, RegisteredTranslatorMapsForeignException) {
  dispatcher_.add_error_translator(transient_foreign);

  const Outcome out = run(Method::kGet, "/foreign/transient");
  EXPECT_EQ(out.status(), 503U);
  expect_error_body(out, "unavailable", "backend unavailable, retry later");
  EXPECT_EQ(out.field("Retry-After"), "3");
  // The middlewares still ran their after().
  EXPECT_EQ(log_, (std::vector<std::string>{"before rec", "after rec"}));

  // What an asynchronous handler threw goes the same way.
  Request req;
  req.method = Method::kGet;
  req.path = "/async";
  Response res;
  Context ctx(req, res, io_.get_executor());
  ASSERT_NE(dispatcher_.begin(ctx), nullptr);
  dispatcher_.fail(ctx, std::make_exception_ptr(ForeignError(true)));
  dispatcher_.finish(ctx);
  EXPECT_EQ(code(res.status), 503U);
  EXPECT_EQ(res.body,
            R"({"error":{"code":"unavailable","message":"backend unavailable, retry later"}})");
}

TEST_F(DispatcherTest, UntranslatedExceptionIsStill500) {
  dispatcher_.add_error_translator(transient_foreign);

  // The translator declines a permanent foreign failure...
  const Outcome declined = run(Method::kGet, "/foreign/permanent");
  EXPECT_EQ(declined.status(), 500U);
  expect_error_body(declined, "internal", "internal server error");
  EXPECT_FALSE(declined.field("X-Partial").has_value());
  EXPECT_FALSE(declined.field("Retry-After").has_value());
  // ...and does not know a plain std::exception.
  const Outcome unknown = run(Method::kGet, "/boom");
  EXPECT_EQ(unknown.status(), 500U);
  expect_error_body(unknown, "internal", "internal server error");
  // An http::Error never reaches a translator.
  EXPECT_EQ(run(Method::kPost, "/names").status(), 409U);
}

TEST_F(DispatcherTest, TranslatorsAreAskedInOrderAndAThrowingOneDeclines) {
  dispatcher_.add_error_translator(throwing_translator);
  dispatcher_.add_error_translator(transient_foreign);
  dispatcher_.add_error_translator(any_foreign_is_gone);

  EXPECT_EQ(run(Method::kGet, "/foreign/transient").status(), 503U);  // the first that knows it
  const Outcome second = run(Method::kGet, "/foreign/permanent");
  EXPECT_EQ(second.status(), 410U);
  expect_error_body(second, "gone", "translated second");
  EXPECT_EQ(run(Method::kGet, "/boom").status(), 500U);
}

TEST(RespondError, RetryAfterAtLeastOneSecondOn503And429) {
  Response res;
  respond_error(res, Error(Status::kServiceUnavailable, "unavailable", "down"));
  ASSERT_EQ(res.fields.size(), 1U);
  EXPECT_EQ(res.fields[0].name, "Retry-After");
  EXPECT_EQ(res.fields[0].value, "1");

  Response limited;
  respond_error(limited,
                Error(Status::kTooManyRequests, "rate_limited", "slow down").with_retry_after(30s));
  ASSERT_EQ(limited.fields.size(), 1U);
  EXPECT_EQ(limited.fields[0].value, "30");

  Response plain;
  respond_error(plain, Error::not_found());
  EXPECT_TRUE(plain.fields.empty());
  EXPECT_EQ(code(plain.status), 404U);
}

TEST(ErrorBody, EscapesAsJson) {
  EXPECT_EQ(error_body("c", "a\"b\\c\n"), R"({"error":{"code":"c","message":"a\"b\\c\n"}})");
}

TEST_F(DispatcherTest, AsyncHandlerIsReturnedAndFailMapsItsError) {
  Request req;
  req.method = Method::kGet;
  req.path = "/async";
  Response res;
  Context ctx(req, res, io_.get_executor());
  const AsyncHandler* h = dispatcher_.begin(ctx);
  ASSERT_NE(h, nullptr);
  dispatcher_.fail(ctx, std::make_exception_ptr(Error(Status::kGone, "gone", "it went")));
  dispatcher_.finish(ctx);
  EXPECT_EQ(code(res.status), 410U);
  EXPECT_EQ(res.body, R"({"error":{"code":"gone","message":"it went"}})");
  EXPECT_EQ(log_, (std::vector<std::string>{"before rec", "after rec"}));
}

TEST_F(DispatcherTest, NonStandardExceptionIs500) {
  Request req;
  req.path = "/async";
  Response res;
  Context ctx(req, res, io_.get_executor());
  ASSERT_NE(dispatcher_.begin(ctx), nullptr);
  dispatcher_.fail(ctx, std::make_exception_ptr(42));
  EXPECT_EQ(code(res.status), 500U);
  EXPECT_EQ(res.body, R"({"error":{"code":"internal","message":"internal server error"}})");
}

TEST_F(DispatcherTest, MiddlewareOrder) {
  run(Method::kGet, "/hello");
  EXPECT_EQ(log_, (std::vector<std::string>{"before rec", "after rec"}));
}

// ---------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------

TEST_F(DispatcherTest, UserRouteWithoutTokenIs401) {
  const Outcome out = run(Method::kGet, "/me");
  EXPECT_EQ(out.status(), 401U);
  EXPECT_EQ(out.response.body.find("\"code\":\"unauthorized\""), 10U) << out.response.body;
  EXPECT_EQ(out.principal.user_id, 0U);
  // The chain was entered; the handler was not.
  EXPECT_EQ(log_, (std::vector<std::string>{"before rec", "after rec"}));
}

TEST_F(DispatcherTest, UserRouteWithMalformedAuthorizationIs401) {
  for (const char* value :
       {"user-token", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer    ", "Bearertoken"}) {
    const Outcome out = run_with_token("/me", value);
    EXPECT_EQ(out.status(), 401U) << value;
  }
}

TEST_F(DispatcherTest, UserRouteWithBadTokenIs401) {
  const Outcome out = run_with_token("/me", "Bearer forged");
  EXPECT_EQ(out.status(), 401U);
  expect_error_body(out, "unauthorized", "invalid or expired token");
  EXPECT_EQ(out.principal.user_id, 0U);
}

TEST_F(DispatcherTest, UserRouteWithUserTokenSetsPrincipal) {
  const Outcome out = run_with_token("/me", "Bearer user-token");
  EXPECT_EQ(out.status(), 200U);
  EXPECT_EQ(out.response.body, "7");
  EXPECT_EQ(out.principal.user_id, 7U);
  EXPECT_FALSE(out.principal.admin);

  // The scheme is case-insensitive; extra spaces before the token are skipped.
  const Outcome other = run(Method::kGet, "/me", {{"authorization", "bearer   other-user"}});
  EXPECT_EQ(other.status(), 200U);
  EXPECT_EQ(other.principal.user_id, 8U);
}

TEST_F(DispatcherTest, AdminRouteWithUserTokenIs403) {
  const Outcome out = run_with_token("/admin", "Bearer user-token");
  EXPECT_EQ(out.status(), 403U);
  expect_error_body(out, "forbidden", "admin token required");
  EXPECT_FALSE(out.principal.admin);
}

TEST_F(DispatcherTest, AdminRouteWithBadOrNoTokenIs401) {
  EXPECT_EQ(run_with_token("/admin", "Bearer nope").status(), 401U);
  EXPECT_EQ(run(Method::kGet, "/admin").status(), 401U);
}

TEST_F(DispatcherTest, AdminRouteWithAdminToken) {
  const Outcome out = run_with_token("/admin", "Bearer admin-token");
  EXPECT_EQ(out.status(), 200U);
  EXPECT_EQ(out.response.body, "{\"admin\":true}");
  EXPECT_TRUE(out.principal.admin);
}

TEST_F(DispatcherTest, PublicRouteIgnoresToken) {
  EXPECT_EQ(run_with_token("/hello", "Bearer forged").status(), 200U);
}

TEST_F(DispatcherTest, UnknownPathWithoutTokenIs404Not401) {
  EXPECT_EQ(run(Method::kGet, "/admin/extra").status(), 404U);
}

TEST(AuthMiddleware, WithoutAuthenticatorProtectedRoutesAre401) {
  Router router;
  router.add({Method::kGet, "/me", Auth::kUser, SyncHandler([](Context&) {})});
  Dispatcher d(std::move(router));
  d.use(std::make_unique<AuthMiddleware>(nullptr));
  boost::asio::io_context io;
  Request req;
  req.path = "/me";
  req.headers.push_back({"Authorization", "Bearer user-token"});
  Response res;
  Context ctx(req, res, io.get_executor());
  EXPECT_EQ(d.begin(ctx), nullptr);
  d.finish(ctx);
  EXPECT_EQ(code(res.status), 401U);
}

// ---------------------------------------------------------------------------
// Request id
// ---------------------------------------------------------------------------

TEST_F(DispatcherTest, AcceptableRequestIdIsEchoed) {
  const Outcome out = run(Method::kGet, "/hello", {{"x-request-id", "abc-123_XYZ"}});
  EXPECT_EQ(out.request_id, "abc-123_XYZ");
  const std::string longest(kMaxRequestIdLength, 'r');
  EXPECT_EQ(run(Method::kGet, "/hello", {{"X-Request-Id", longest}}).request_id, longest);
  EXPECT_EQ(run(Method::kGet, "/hello", {{"X-Request-Id", "order 42\tretry 1"}}).request_id,
            "order 42\tretry 1");
  // Even on an error response.
  EXPECT_EQ(run(Method::kGet, "/nope", {{"X-Request-Id", "err-1"}}).request_id, "err-1");
}

TEST_F(DispatcherTest, UnacceptableRequestIdIsReplaced) {
  const std::string too_long(kMaxRequestIdLength + 1, 'r');
  for (const std::string& sent : {std::string(), std::string(" leading"), std::string("tab\t"),
                                  std::string("nul\0", 4), std::string("caf\xc3\xa9"), too_long}) {
    const Outcome out = run(Method::kGet, "/hello", {{"X-Request-Id", sent}});
    EXPECT_NE(out.request_id, sent);
    EXPECT_TRUE(is_acceptable_request_id(out.request_id)) << out.request_id;
  }
}

TEST_F(DispatcherTest, GeneratedRequestIdsAreUnique) {
  std::unordered_set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const Outcome out = run(Method::kGet, i % 2 == 0 ? "/hello" : "/nope");
    EXPECT_TRUE(is_acceptable_request_id(out.request_id)) << out.request_id;
    ids.insert(out.request_id);
  }
  EXPECT_EQ(ids.size(), 1000U);
}

TEST(RequestId, Acceptable) {
  EXPECT_TRUE(is_acceptable_request_id("a"));
  EXPECT_TRUE(is_acceptable_request_id("!~"));
  EXPECT_TRUE(is_acceptable_request_id(std::string(kMaxRequestIdLength, 'x')));
  EXPECT_TRUE(is_acceptable_request_id("a b"));
  EXPECT_TRUE(is_acceptable_request_id("a\tb"));
  EXPECT_FALSE(is_acceptable_request_id(""));
  EXPECT_FALSE(is_acceptable_request_id(std::string(kMaxRequestIdLength + 1, 'x')));
  EXPECT_FALSE(is_acceptable_request_id(" a"));
  EXPECT_FALSE(is_acceptable_request_id("a "));
  EXPECT_FALSE(is_acceptable_request_id(std::string("a\0b", 3)));
  EXPECT_FALSE(is_acceptable_request_id("\x7f"));
}

TEST(RequestId, ScannedFromAHeadTheParserRefused) {
  // Case-insensitive name, value trimmed, found past a malformed line.
  EXPECT_EQ(scan_request_id("GET / HTTP/1.1\r\nHost: a\r\nbad line\r\nx-REQUEST-id:  r-1 \r\n"
                            "X-Big: aaaa"),
            "r-1");
  EXPECT_EQ(scan_request_id("GET / HTTP/2.0\nX-Request-Id: r-2\n\n"), "r-2");
  // Absent, after the blank line, cut off, unacceptable, or a longer name.
  EXPECT_EQ(scan_request_id("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), std::nullopt);
  EXPECT_EQ(scan_request_id("GET / HTTP/1.1\r\n\r\nX-Request-Id: body\r\n"), std::nullopt);
  EXPECT_EQ(scan_request_id("GET / HTTP/1.1\r\nX-Request-Id: r-3"), std::nullopt);
  EXPECT_EQ(scan_request_id("GET / HTTP/1.1\r\nX-Request-Id: a\x01b\r\n"), std::nullopt);
  EXPECT_EQ(scan_request_id("GET / HTTP/1.1\r\nX-Request-Ids: r-4\r\n"), std::nullopt);
  // The request line is never a field.
  EXPECT_EQ(scan_request_id("X-Request-Id: r-5\r\nHost: a\r\n"), std::nullopt);
}

}  // namespace
}  // namespace surge::http
