#include "users/login_limiter.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace surge::users {
namespace {

using namespace std::chrono_literals;  // NOLINT(google-build-using-namespace)

std::string address_of(std::vector<http::Header> headers) {
  http::Request r;
  r.headers = std::move(headers);
  return client_address(r);
}

TEST(LoginClientAddress, PrefersXRealIp) {
  EXPECT_EQ(address_of({{"X-Real-IP", "203.0.113.7"}}), "203.0.113.7");
  EXPECT_EQ(address_of({{"x-real-ip", " 2001:db8::1 "}}), "2001:db8::1");
  EXPECT_EQ(address_of({{"X-Forwarded-For", "198.51.100.1"}, {"X-Real-IP", "203.0.113.7"}}),
            "203.0.113.7");
}

TEST(LoginClientAddress, FallsBackToTheLastForwardedHop) {
  // nginx appends the peer it saw; earlier hops are whatever the client sent.
  EXPECT_EQ(address_of({{"X-Forwarded-For", "1.2.3.4, 198.51.100.1"}}), "198.51.100.1");
  EXPECT_EQ(address_of({{"X-Forwarded-For", "198.51.100.1"}}), "198.51.100.1");
  // A bad X-Real-IP does not hide a good X-Forwarded-For.
  EXPECT_EQ(address_of({{"X-Real-IP", "evil{}"}, {"X-Forwarded-For", "10.0.0.1"}}), "10.0.0.1");
}

TEST(LoginClientAddress, UnknownWithoutUsableHeaders) {
  EXPECT_EQ(address_of({}), "unknown");
  EXPECT_EQ(address_of({{"X-Real-IP", ""}}), "unknown");
  EXPECT_EQ(address_of({{"X-Real-IP", "not an address"}}), "unknown");
  EXPECT_EQ(address_of({{"X-Real-IP", "1.2.3.4}:x"}}), "unknown");
  EXPECT_EQ(address_of({{"X-Real-IP", std::string(65, '1')}}), "unknown");
  EXPECT_EQ(address_of({{"X-Forwarded-For", "1.2.3.4, "}}), "unknown");
}

TEST(LoginWindow, FixedWindowsAlignedOnTheEpoch) {
  EXPECT_EQ(window_at(1764057600, 60s).start, 1764057600);
  EXPECT_EQ(window_at(1764057600, 60s).retry_after, 60);
  EXPECT_EQ(window_at(1764057659, 60s).start, 1764057600);
  EXPECT_EQ(window_at(1764057659, 60s).retry_after, 1);
  EXPECT_EQ(window_at(1764057630, 60s).retry_after, 30);
  EXPECT_EQ(window_at(1764057660, 60s).start, 1764057660);
  EXPECT_EQ(window_at(-1, 60s).start, -60);
  EXPECT_EQ(window_at(-1, 60s).retry_after, 1);
}

TEST(LoginKeys, CarryTheHashTagOfTheirPlacement) {
  EXPECT_EQ(name_key("alice", 1764057600), "surge:login:name:{alice}:1764057600");
  EXPECT_EQ(address_key("10.0.0.1", 60), "surge:login:addr:{10.0.0.1}:60");
}

TEST(LoginLimiter, WithoutRedisEverythingPasses) {
  metrics::Registry registry;
  const LoginLimiter limiter(nullptr, {}, registry);
  EXPECT_FALSE(limiter.active());
}

TEST(LoginLimiter, RejectsUnusableSettings) {
  metrics::Registry registry;
  LoginLimitSettings s;
  s.window = 0s;
  EXPECT_THROW(LoginLimiter(nullptr, s, registry), std::invalid_argument);
  s = {};
  s.per_name = 0;
  EXPECT_THROW(LoginLimiter(nullptr, s, registry), std::invalid_argument);
  s.enabled = false;  // disabled: anything goes
  EXPECT_NO_THROW(LoginLimiter(nullptr, s, registry));
}

}  // namespace
}  // namespace surge::users
