#include "signin/status.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace surge::signin {
namespace {

Status sample() {
  Status s;
  s.date = "2026-11-25";
  s.signed_in_today = true;
  s.streak_days = 3;
  s.total_points = 130;
  s.month_days = {1, 23, 24, 25};
  s.day_ends_at = 1'796'169'600;
  return s;
}

TEST(SignInPoints, BonusGrowsWithTheStreakUpToTheCap) {
  const Settings s;  // 10 + 2 per day, capped after 5 days
  EXPECT_EQ(points_for(0, s), 10);
  EXPECT_EQ(points_for(1, s), 12);
  EXPECT_EQ(points_for(4, s), 18);
  EXPECT_EQ(points_for(5, s), 20);
  EXPECT_EQ(points_for(400, s), 20);
  EXPECT_EQ(points_for(-1, s), 10);
  Settings flat;
  flat.streak_bonus_points = 0;
  EXPECT_EQ(points_for(9, flat), 10);
}

TEST(SignInSettings, AreValidated) {
  EXPECT_NO_THROW(validate(Settings{}));
  Settings s;
  s.time_zone = "Asia/Shanghai";
  EXPECT_NO_THROW(validate(s));
  s.time_zone = "Mars/Olympus";
  EXPECT_THROW(validate(s), std::invalid_argument);
  s = Settings{};
  s.base_points = 0;
  EXPECT_THROW(validate(s), std::invalid_argument);
  s = Settings{};
  s.streak_bonus_points = -1;
  EXPECT_THROW(validate(s), std::invalid_argument);
  s = Settings{};
  s.streak_bonus_points = 1'000'000;
  s.streak_bonus_max_days = 1'000'000;
  EXPECT_THROW(validate(s), std::invalid_argument);
}

TEST(SignInTimeZone, NamesArePlausible) {
  EXPECT_TRUE(plausible_time_zone("UTC"));
  EXPECT_TRUE(plausible_time_zone("Etc/GMT-14"));
  EXPECT_TRUE(plausible_time_zone("America/Argentina/Buenos_Aires"));
  EXPECT_FALSE(plausible_time_zone(""));
  EXPECT_FALSE(plausible_time_zone("../etc/passwd"));
  EXPECT_FALSE(plausible_time_zone("Europe//Paris"));
  EXPECT_FALSE(plausible_time_zone("/UTC"));
  EXPECT_FALSE(plausible_time_zone("UTC; DROP TABLE users"));
  EXPECT_FALSE(plausible_time_zone(std::string(65, 'A')));
}

TEST(SignInRender, SignInBody) {
  const std::string body = render_signin(sample(), 14);
  EXPECT_EQ(body, R"({"date":"2026-11-25","awarded_points":14,"already_signed_in":false,)"
                  R"("streak_days":3,"total_points":130,"month_days":[1,23,24,25]})");
  EXPECT_NE(render_signin(sample(), 0).find(R"("awarded_points":0,"already_signed_in":true)"),
            std::string::npos);
  EXPECT_TRUE(boost::json::parse(body).is_object());
}

TEST(SignInRender, StatusBody) {
  Status s = sample();
  EXPECT_EQ(render_status(s), R"({"date":"2026-11-25","signed_in_today":true,"streak_days":3,)"
                              R"("total_points":130,"month_days":[1,23,24,25]})");
  s.signed_in_today = false;
  s.month_days.clear();
  s.streak_days = 0;
  EXPECT_EQ(render_status(s), R"({"date":"2026-11-25","signed_in_today":false,"streak_days":0,)"
                              R"("total_points":130,"month_days":[]})");
}

TEST(SignInDays, Parse) {
  EXPECT_EQ(parse_days(""), std::vector<int>{});
  EXPECT_EQ(parse_days("7"), std::vector<int>{7});
  EXPECT_EQ(parse_days("1,2,31"), (std::vector<int>{1, 2, 31}));
  EXPECT_FALSE(parse_days("0"));
  EXPECT_FALSE(parse_days("32"));
  EXPECT_FALSE(parse_days("1,,2"));
  EXPECT_FALSE(parse_days("1,"));
  EXPECT_FALSE(parse_days(",1"));
  EXPECT_FALSE(parse_days("a"));
  EXPECT_FALSE(parse_days("1 2"));
}

TEST(SignInCached, RoundTrips) {
  const Status s = sample();
  const std::string text = encode_status(s);
  EXPECT_EQ(text, "s1 2026-11-25 1796169600 3 130 1,23,24,25");
  const auto back = decode_status(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->date, s.date);
  EXPECT_TRUE(back->signed_in_today);
  EXPECT_EQ(back->streak_days, 3);
  EXPECT_EQ(back->total_points, 130);
  EXPECT_EQ(back->month_days, s.month_days);
  EXPECT_EQ(back->day_ends_at, s.day_ends_at);
}

TEST(SignInCached, RejectsAnythingElse) {
  EXPECT_FALSE(decode_status(""));
  EXPECT_FALSE(decode_status("s2 2026-11-25 1 3 130 1"));
  EXPECT_FALSE(decode_status("s1 2026-11-25 1 3 130 "));    // no days: never cached
  EXPECT_FALSE(decode_status("s1 2026-11-25 1 0 130 25"));  // streak 0 while signed in
  EXPECT_FALSE(decode_status("s1 2026/11/25 1 3 130 25"));
  EXPECT_FALSE(decode_status("s1 2026-11-25 x 3 130 25"));
  EXPECT_FALSE(decode_status("s1 2026-11-25 1 3 -5 25"));
  EXPECT_FALSE(decode_status("s1 2026-11-25 1 3 130 25 extra"));
  EXPECT_FALSE(decode_status("s1 2026-11-25 1 3"));
}

TEST(SignInCached, RetiresBeforeTheDayEnds) {
  const Status s = sample();
  const std::chrono::seconds margin{2};
  EXPECT_TRUE(still_today(s, s.day_ends_at - 3, margin));
  EXPECT_FALSE(still_today(s, s.day_ends_at - 2, margin));
  EXPECT_FALSE(still_today(s, s.day_ends_at + 10, margin));
}

}  // namespace
}  // namespace surge::signin
