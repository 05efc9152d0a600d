#include "profile/profile.hpp"

#include <cstdint>
#include <limits>
#include <string>

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "http/error.hpp"
#include "profile/keys.hpp"
#include "profile/markers.hpp"
#include "profile/user_center.hpp"

namespace surge::profile {
namespace {

Profile sample() {
  Profile p;
  p.id = 42;
  p.name = "user42";
  p.nickname = "Zoë \"the\" tester\n";
  p.avatar_url = "https://img.example/a.png";
  p.total_points = 130;
  p.created_at = "2026-11-25T08:00:00Z";
  return p;
}

// ---------------------------------------------------------------------------
// Level
// ---------------------------------------------------------------------------

TEST(ProfileLevel, FollowsTheDocumentedFormula) {
  EXPECT_EQ(level_for(0), 1);
  EXPECT_EQ(level_for(9), 1);
  EXPECT_EQ(level_for(10), 2);
  EXPECT_EQ(level_for(39), 2);
  EXPECT_EQ(level_for(40), 3);
  EXPECT_EQ(level_for(89), 3);
  EXPECT_EQ(level_for(90), 4);
  EXPECT_EQ(level_for(159), 4);
  EXPECT_EQ(level_for(160), 5);
  EXPECT_EQ(level_for(-5), 1);
  for (std::int64_t n = 1; n < 200; ++n) {
    EXPECT_EQ(level_for(10 * (n - 1) * (n - 1)), n) << n;
    if (n > 1) {
      EXPECT_EQ(level_for(10 * (n - 1) * (n - 1) - 1), n - 1) << n;
    }
  }
  EXPECT_EQ(level_for(std::numeric_limits<std::int64_t>::max()), 1 + 960'383'883);
}

TEST(ProfileLevel, IsqrtIsExactEverywhere) {
  EXPECT_EQ(isqrt(0), 0U);
  EXPECT_EQ(isqrt(1), 1U);
  EXPECT_EQ(isqrt(3), 1U);
  EXPECT_EQ(isqrt(4), 2U);
  const std::uint64_t big = 4'294'967'295ULL;  // 2^32 - 1
  EXPECT_EQ(isqrt(big * big), big);
  EXPECT_EQ(isqrt(big * big - 1), big - 1);
  EXPECT_EQ(isqrt(std::numeric_limits<std::uint64_t>::max()), big);
  for (std::uint64_t r = 94'906'260; r < 94'906'270; ++r) {  // around 2^53's root
    EXPECT_EQ(isqrt(r * r), r);
    EXPECT_EQ(isqrt(r * r - 1), r - 1);
  }
}

// ---------------------------------------------------------------------------
// Bodies and the cached form
// ---------------------------------------------------------------------------

TEST(ProfileRender, PrivateAndPublicBodiesHaveTheContractFieldsInOrder) {
  const std::string priv = render_private(sample());
  EXPECT_EQ(priv, R"({"id":42,"name":"user42","nickname":"Zoë \"the\" tester\n",)"
                  R"("avatar_url":"https://img.example/a.png","total_points":130,"level":4,)"
                  R"("created_at":"2026-11-25T08:00:00Z"})");
  const std::string pub = render_public(sample());
  EXPECT_EQ(pub, R"({"id":42,"name":"user42","nickname":"Zoë \"the\" tester\n",)"
                 R"("avatar_url":"https://img.example/a.png","level":4})");
  EXPECT_TRUE(boost::json::parse(priv).is_object());
}

TEST(ProfileCached, RoundTripsBothBodiesAndTheFence) {
  const Profile p = sample();
  const std::string value = encode_cached("00000000016b374d.3", p);
  const auto view = decode_cached(value);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->fence, "00000000016b374d.3");
  EXPECT_EQ(view->private_body, render_private(p));
  EXPECT_EQ(view->public_body, render_public(p));

  const auto unfenced = decode_cached(encode_cached("", p));
  ASSERT_TRUE(unfenced);
  EXPECT_EQ(unfenced->fence, "");
}

TEST(ProfileCached, RejectsForeignValues) {
  EXPECT_FALSE(decode_cached(""));
  EXPECT_FALSE(decode_cached("plain"));
  EXPECT_FALSE(decode_cached("f\n{}"));
  EXPECT_FALSE(decode_cached("f\n\n{}"));
  EXPECT_FALSE(decode_cached("f\n{}\nx"));
  EXPECT_TRUE(decode_cached("f\n{}\n{}"));
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

TEST(ProfileValidate, NicknameCountsCodePoints) {
  EXPECT_FALSE(check_nickname(""));
  EXPECT_FALSE(check_nickname(std::string(64, 'a')));
  EXPECT_TRUE(check_nickname(std::string(65, 'a')));
  std::string cjk;
  for (int i = 0; i < 64; ++i) {
    cjk += "\xE4\xB8\xAD";  // 中: 3 bytes, one code point
  }
  EXPECT_FALSE(check_nickname(cjk));
  EXPECT_TRUE(check_nickname(cjk + "a"));
  std::string emoji;
  for (int i = 0; i < 64; ++i) {
    emoji += "\xF0\x9F\x98\x80";  // 😀: 4 bytes
  }
  EXPECT_FALSE(check_nickname(emoji));
  EXPECT_EQ(utf8_length("Zoë"), 3U);
}

TEST(ProfileValidate, NicknameRefusesControlCharacters) {
  EXPECT_TRUE(check_nickname("a\nb"));
  EXPECT_TRUE(check_nickname(std::string("a\0b", 3)));
  EXPECT_TRUE(check_nickname("a\x7F"));
  EXPECT_TRUE(check_nickname("a\xC2\x85"));   // U+0085 NEL
  EXPECT_FALSE(check_nickname("a\xC2\xA0"));  // U+00A0 no-break space: fine
  EXPECT_FALSE(check_nickname("tab-less name, with punctuation!"));
}

TEST(ProfileValidate, AvatarUrl) {
  EXPECT_FALSE(check_avatar_url(""));
  EXPECT_FALSE(check_avatar_url("https://img.example/a.png"));
  EXPECT_FALSE(check_avatar_url("http://img.example"));
  EXPECT_FALSE(check_avatar_url("HTTPS://IMG.EXAMPLE/A.PNG?x=1#f"));
  EXPECT_FALSE(check_avatar_url("https://user:pw@img.example:8443/a%20b.png"));
  EXPECT_TRUE(check_avatar_url("ftp://img.example/a.png"));
  EXPECT_TRUE(check_avatar_url("javascript:alert(1)"));
  EXPECT_TRUE(check_avatar_url("https://"));
  EXPECT_TRUE(check_avatar_url("https:///path"));
  EXPECT_TRUE(check_avatar_url("https://:80/"));
  EXPECT_TRUE(check_avatar_url("https://img.example/a b.png"));
  EXPECT_TRUE(check_avatar_url("https://img.example/\xC3\xA9.png"));
  EXPECT_TRUE(check_avatar_url("img.example/a.png"));
  const std::string base = "https://img.example/";
  EXPECT_FALSE(check_avatar_url(base + std::string(512 - base.size(), 'a')));
  EXPECT_TRUE(check_avatar_url(base + std::string(513 - base.size(), 'a')));
}

TEST(ProfileValidate, PathIds) {
  EXPECT_EQ(parse_id("1"), 1U);
  EXPECT_EQ(parse_id("9223372036854775807"), 9223372036854775807ULL);
  EXPECT_FALSE(parse_id("9223372036854775808"));
  EXPECT_FALSE(parse_id("18446744073709551616"));
  EXPECT_FALSE(parse_id("99999999999999999999"));
  EXPECT_FALSE(parse_id("0"));
  EXPECT_FALSE(parse_id("007"));
  EXPECT_FALSE(parse_id("-1"));
  EXPECT_FALSE(parse_id("+1"));
  EXPECT_FALSE(parse_id("1a"));
  EXPECT_FALSE(parse_id(""));
  EXPECT_FALSE(parse_id(" 1"));
}

// ---------------------------------------------------------------------------
// PATCH bodies
// ---------------------------------------------------------------------------

// The message of the 400 that parse_patch throws ("field: why").
std::string patch_error(std::string_view body) {
  try {
    (void)parse_patch(body);
  } catch (const http::Error& e) {
    EXPECT_EQ(e.status(), http::Status::kBadRequest);
    EXPECT_EQ(e.code(), "invalid_request");
    return e.what();
  }
  ADD_FAILURE() << "no error for " << body;
  return {};
}

TEST(ProfilePatch, AcceptsTheTwoFields) {
  const Patch both = parse_patch(R"({"nickname":"Neo","avatar_url":"https://x.example/n.png"})");
  EXPECT_EQ(both.nickname, "Neo");
  EXPECT_EQ(both.avatar_url, "https://x.example/n.png");
  const Patch one = parse_patch(R"({"avatar_url":""})");
  EXPECT_FALSE(one.nickname);
  EXPECT_EQ(one.avatar_url, "");
  EXPECT_TRUE(parse_patch("{}").empty());
}

TEST(ProfilePatch, NamesTheOffendingField) {
  EXPECT_TRUE(patch_error(R"({"nickname":5})").starts_with("nickname:"));
  EXPECT_TRUE(patch_error(R"({"nickname":null})").starts_with("nickname:"));
  EXPECT_TRUE(patch_error(R"({"avatar_url":["x"]})").starts_with("avatar_url:"));
  EXPECT_TRUE(patch_error(R"({"avatar_url":"ftp://x"})").starts_with("avatar_url:"));
  EXPECT_TRUE(patch_error(R"({"total_points":1000})").starts_with("total_points:"));
  EXPECT_TRUE(patch_error(R"({"nickname":"ok","name":"x"})").starts_with("name:"));
  EXPECT_TRUE(
      patch_error(R"({"nickname":")" + std::string(65, 'n') + R"("})").starts_with("nickname:"));
  EXPECT_TRUE(patch_error("").starts_with("body:"));
  EXPECT_TRUE(patch_error("[]").starts_with("body:"));
  EXPECT_TRUE(patch_error("{").starts_with("body:"));
}

// ---------------------------------------------------------------------------
// Keys and markers
// ---------------------------------------------------------------------------

TEST(ProfileKeys, CarryTheUsersHashTag) {
  EXPECT_EQ(profile_key(42), "user:{42}");
  EXPECT_EQ(marker_key(42), "user:{42}:lsn");
  EXPECT_EQ(user_key(42, ":signin"), "user:{42}:signin");
  EXPECT_EQ(marker_key_of(profile_key(7)), marker_key(7));
}

TEST(ProfileMarkers, FormatAndParse) {
  EXPECT_EQ(format_marker_lsn(0x16B374D848ULL), "00000016b374d848");
  EXPECT_EQ(format_marker_lsn(pg::kPrimaryLsn), "ffffffffffffffff");
  EXPECT_EQ(parse_marker("00000016b374d848.1"), 0x16B374D848ULL);
  EXPECT_EQ(parse_marker("ffffffffffffffff.12"), pg::kPrimaryLsn);
  EXPECT_FALSE(parse_marker("00000016b374d848"));
  EXPECT_FALSE(parse_marker("00000016b374d848."));
  EXPECT_FALSE(parse_marker("00000016b374d848.x"));
  EXPECT_FALSE(parse_marker("16/B374D848"));
  EXPECT_FALSE(parse_marker(""));
  EXPECT_FALSE(parse_marker(kNoFill));
}

}  // namespace
}  // namespace surge::profile
