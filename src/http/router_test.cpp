#include "http/router.hpp"

#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

namespace surge::http {
namespace {

SyncHandler noop() {
  return [](Context&) {};
}

RouteSpec spec(Method method, std::string pattern, Auth auth = Auth::kNone) {
  return RouteSpec{method, std::move(pattern), auth, noop()};
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    router.add(spec(Method::kGet, "/healthz"));
    router.add(spec(Method::kGet, "/api/v1/products"));
    router.add(spec(Method::kPost, "/api/v1/products", Auth::kAdmin));
    router.add(spec(Method::kGet, "/api/v1/users/me", Auth::kUser));
    router.add(spec(Method::kGet, "/api/v1/users/{id}"));
    router.add(spec(Method::kDelete, "/api/v1/users/{id}", Auth::kAdmin));
    router.add(spec(Method::kGet, "/api/v1/orders/{order}/items/{item}"));
    router.add(spec(Method::kHead, "/api/v1/ping"));
    router.add(spec(Method::kGet, "/api/v1/ping"));
  }

  Router router;
};

TEST_F(RouterTest, ExactMatch) {
  const auto m = router.match(Method::kGet, "/healthz");
  ASSERT_EQ(m.outcome, Router::Outcome::kFound);
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/healthz");
  EXPECT_EQ(m.route->method, Method::kGet);
  EXPECT_EQ(m.params.size, 0U);
}

TEST_F(RouterTest, ExactMatchSelectsByMethod) {
  const auto get = router.match(Method::kGet, "/api/v1/products");
  const auto post = router.match(Method::kPost, "/api/v1/products");
  ASSERT_EQ(get.outcome, Router::Outcome::kFound);
  ASSERT_EQ(post.outcome, Router::Outcome::kFound);
  EXPECT_EQ(get.route->method, Method::kGet);
  EXPECT_EQ(post.route->method, Method::kPost);
  EXPECT_EQ(post.route->auth, Auth::kAdmin);
  EXPECT_NE(get.route->index, post.route->index);
}

TEST_F(RouterTest, ExactPathWinsOverParameterisedOne) {
  const auto m = router.match(Method::kGet, "/api/v1/users/me");
  ASSERT_EQ(m.outcome, Router::Outcome::kFound);
  EXPECT_EQ(m.route->pattern, "/api/v1/users/me");
  EXPECT_EQ(m.route->auth, Auth::kUser);
}

TEST_F(RouterTest, ParameterisedMatchExtractsParams) {
  const auto m = router.match(Method::kGet, "/api/v1/users/42");
  ASSERT_EQ(m.outcome, Router::Outcome::kFound);
  EXPECT_EQ(m.route->pattern, "/api/v1/users/{id}");
  ASSERT_EQ(m.params.size, 1U);
  EXPECT_EQ(m.params.names[0], "id");
  EXPECT_EQ(m.params.values[0], "42");
  EXPECT_EQ(m.params.get("id"), "42");
  EXPECT_EQ(m.params.get("nope"), "");
}

TEST_F(RouterTest, TwoParams) {
  const std::string path = "/api/v1/orders/o-17/items/abc";
  const auto m = router.match(Method::kGet, path);
  ASSERT_EQ(m.outcome, Router::Outcome::kFound);
  ASSERT_EQ(m.params.size, 2U);
  EXPECT_EQ(m.params.get("order"), "o-17");
  EXPECT_EQ(m.params.get("item"), "abc");
  // Values are views into the request path, not copies.
  EXPECT_EQ(m.params.get("item").data(), path.data() + path.size() - 3);
}

TEST_F(RouterTest, MaxParamsAccepted) {
  router.add(spec(Method::kGet, "/{a}/{b}/{c}/{d}"));
  const auto m = router.match(Method::kGet, "/1/2/3/4");
  ASSERT_EQ(m.outcome, Router::Outcome::kFound);
  ASSERT_EQ(m.params.size, 4U);
  EXPECT_EQ(m.params.get("a"), "1");
  EXPECT_EQ(m.params.get("d"), "4");
}

TEST_F(RouterTest, NotFound) {
  for (const char* path : {"/", "/nope", "/api/v1", "/api/v1/users", "/api/v1/users/1/extra",
                           "/api/v1/orders/1/items", "/api/v1/orders/1/lines/2", "", "healthz"}) {
    const auto m = router.match(Method::kGet, path);
    EXPECT_EQ(m.outcome, Router::Outcome::kNotFound) << path;
    EXPECT_EQ(m.route, nullptr) << path;
    EXPECT_TRUE(m.allow.empty()) << path;
  }
}

TEST_F(RouterTest, TrailingSlashDoesNotMatch) {
  EXPECT_EQ(router.match(Method::kGet, "/healthz/").outcome, Router::Outcome::kNotFound);
  EXPECT_EQ(router.match(Method::kGet, "/api/v1/users/42/").outcome, Router::Outcome::kNotFound);
  EXPECT_EQ(router.match(Method::kGet, "/api/v1/orders/1/items/2/").outcome,
            Router::Outcome::kNotFound);
}

TEST_F(RouterTest, EmptyParamSegmentDoesNotMatch) {
  EXPECT_EQ(router.match(Method::kGet, "/api/v1/users/").outcome, Router::Outcome::kNotFound);
  EXPECT_EQ(router.match(Method::kGet, "/api/v1/orders//items/2").outcome,
            Router::Outcome::kNotFound);
  EXPECT_EQ(router.match(Method::kGet, "/api/v1/orders/1/items/").outcome,
            Router::Outcome::kNotFound);
}

TEST_F(RouterTest, MethodNotAllowedOnlyGetListsHead) {
  const auto m = router.match(Method::kPost, "/healthz");
  EXPECT_EQ(m.outcome, Router::Outcome::kMethodNotAllowed);
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.allow, "GET, HEAD");
}

TEST_F(RouterTest, MethodNotAllowedListsEveryMethodInOrder) {
  const auto exact = router.match(Method::kDelete, "/api/v1/products");
  EXPECT_EQ(exact.outcome, Router::Outcome::kMethodNotAllowed);
  EXPECT_EQ(exact.allow, "GET, HEAD, POST");

  const auto param = router.match(Method::kPut, "/api/v1/users/7");
  EXPECT_EQ(param.outcome, Router::Outcome::kMethodNotAllowed);
  EXPECT_EQ(param.allow, "GET, HEAD, DELETE");
}

TEST_F(RouterTest, MethodNotAllowedWithoutGetHasNoHead) {
  router.add(spec(Method::kPost, "/api/v1/orders"));
  const auto m = router.match(Method::kGet, "/api/v1/orders");
  EXPECT_EQ(m.outcome, Router::Outcome::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "POST");
  EXPECT_EQ(router.match(Method::kHead, "/api/v1/orders").outcome,
            Router::Outcome::kMethodNotAllowed);
}

TEST_F(RouterTest, OtherMethodIsNotAllowed) {
  const auto m = router.match(Method::kOther, "/healthz");
  EXPECT_EQ(m.outcome, Router::Outcome::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "GET, HEAD");
}

TEST_F(RouterTest, HeadFallsBackToGet) {
  const auto exact = router.match(Method::kHead, "/healthz");
  ASSERT_EQ(exact.outcome, Router::Outcome::kFound);
  EXPECT_EQ(exact.route->method, Method::kGet);

  const auto param = router.match(Method::kHead, "/api/v1/users/9");
  ASSERT_EQ(param.outcome, Router::Outcome::kFound);
  EXPECT_EQ(param.route->method, Method::kGet);
  EXPECT_EQ(param.params.get("id"), "9");
}

TEST_F(RouterTest, ExplicitHeadRouteWins) {
  const auto m = router.match(Method::kHead, "/api/v1/ping");
  ASSERT_EQ(m.outcome, Router::Outcome::kFound);
  EXPECT_EQ(m.route->method, Method::kHead);
  // HEAD appears once in Allow even when registered explicitly.
  EXPECT_EQ(router.match(Method::kPost, "/api/v1/ping").allow, "GET, HEAD");
}

TEST_F(RouterTest, RouteIndexesAreDense) {
  const auto& routes = router.routes();
  ASSERT_EQ(routes.size(), 9U);
  for (std::size_t i = 0; i < routes.size(); ++i) {
    EXPECT_EQ(routes[i]->index, i);
  }
}

TEST(RouterErrors, DuplicateRouteThrows) {
  Router router;
  router.add(spec(Method::kGet, "/a"));
  router.add(spec(Method::kGet, "/b/{id}"));
  EXPECT_THROW(router.add(spec(Method::kGet, "/a")), std::invalid_argument);
  EXPECT_THROW(router.add(spec(Method::kGet, "/b/{id}")), std::invalid_argument);
  // Another method on the same pattern is fine.
  EXPECT_NO_THROW(router.add(spec(Method::kPost, "/a")));
  EXPECT_EQ(router.routes().size(), 3U);
}

TEST(RouterErrors, MalformedPatternThrows) {
  for (const char* pattern : {"", "a", "api/v1", "/a/{}", "/a/{id", "/a/id}", "/a/x{id}",
                              "/a/{id}x", "/a/}{", "/a/{id}/{"}) {
    Router router;
    EXPECT_THROW(router.add(spec(Method::kGet, pattern)), std::invalid_argument) << pattern;
    EXPECT_TRUE(router.routes().empty()) << pattern;
  }
}

TEST(RouterErrors, OtherMethodThrows) {
  Router router;
  EXPECT_THROW(router.add(spec(Method::kOther, "/a")), std::invalid_argument);
}

TEST(RouterErrors, MoreThanFourParamsThrows) {
  Router router;
  EXPECT_THROW(router.add(spec(Method::kGet, "/{a}/{b}/{c}/{d}/{e}")), std::invalid_argument);
  EXPECT_NO_THROW(router.add(spec(Method::kGet, "/{a}/{b}/{c}/{d}")));
}

TEST(RouterMove, MovedRouterStillMatches) {
  Router a;
  a.add(spec(Method::kGet, "/x/{id}"));
  a.add(spec(Method::kGet, "/y"));
  Router b = std::move(a);
  EXPECT_EQ(b.match(Method::kGet, "/x/1").outcome, Router::Outcome::kFound);
  EXPECT_EQ(b.match(Method::kGet, "/y").outcome, Router::Outcome::kFound);
  EXPECT_EQ(b.match(Method::kPost, "/y").allow, "GET, HEAD");
}

// "{a}{b}" and "{{id}}" are malformed segments, but is_param() only looks at
// the first and last character, so they register as parameters named "a}{b"
// and "{id}".
TEST(RouterErrors, BracesInsideParamNameThrow) {
  Router router;
  EXPECT_THROW(router.add(spec(Method::kGet, "/{a}{b}")), std::invalid_argument);
  EXPECT_THROW(router.add(spec(Method::kGet, "/x/{{id}}")), std::invalid_argument);
}

// Two parameterised patterns that overlap: /a/{x}/b only has POST, /a/{y}/{z}
// has GET. A GET of /a/1/b is served by the second route, but the router stops
// at the first pattern that matches the path and answers 405.
TEST(RouterOverlap, LaterPatternServesMethodTheFirstLacks) {
  Router router;
  router.add(spec(Method::kPost, "/a/{x}/b"));
  router.add(spec(Method::kGet, "/a/{y}/{z}"));
  const auto m = router.match(Method::kGet, "/a/1/b");
  EXPECT_EQ(m.outcome, Router::Outcome::kFound);
}

}  // namespace
}  // namespace surge::http
