#pragma once

// Daily sign-in: settings, the status record and its pure logic (no I/O).
//
// Points. The first sign-in of a day awards
//   base_points + streak_bonus_points × min(streak_before, streak_bonus_max_days)
// where streak_before is the number of consecutive days signed in ending
// yesterday. Defaults: 10, +2 per day of streak, capped after 5 days — so a
// streak earns 10, 12, 14, 16, 18, 20, 20, ... Every award is a row of
// `signins` (points) added to users.total_points in the same transaction, so
// total_points is always the sum of the points ever awarded.
//
// Streak. streak_days counts consecutive signed-in days ending today, or,
// when the user has not signed in yet today, ending yesterday (the streak
// today's sign-in would continue); 0 when the last sign-in is older.
//
// Day. `date` is the calendar day in the configured time zone (an IANA name
// such as "UTC" or "Asia/Shanghai"), computed by PostgreSQL —
// (now() AT TIME ZONE tz)::date — so one authority decides the day for every
// server, with the same tz rules as the stored dates.
//
// Thread safety: plain functions and values.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace surge::signin {

struct Settings {
  // IANA time zone name of the sign-in day.
  std::string time_zone = "UTC";
  std::int32_t base_points = 10;           // >= 1
  std::int32_t streak_bonus_points = 2;    // >= 0
  std::int32_t streak_bonus_max_days = 5;  // >= 0
  // The cached "signed in today" status expires this long before the day
  // ends, so clock differences between Redis, this server and PostgreSQL
  // around midnight send requests to the database (which decides) instead of
  // answering from yesterday's status.
  std::chrono::seconds day_end_margin{2};
};

// Throws std::invalid_argument naming the bad setting.
void validate(const Settings& settings);

// A plausible IANA zone name: 1–64 characters of [A-Za-z0-9_+-/], no empty
// path segment, no "." segments. When /usr/share/zoneinfo exists the name
// must also name a file there (PostgreSQL on Debian uses the same database).
bool plausible_time_zone(std::string_view name);

std::int64_t points_for(std::int64_t streak_before, const Settings& settings) noexcept;

struct Status {
  std::string date;  // "YYYY-MM-DD"
  bool signed_in_today = false;
  std::int64_t streak_days = 0;
  std::int64_t total_points = 0;
  std::vector<int> month_days;   // ascending, 1..31
  std::int64_t day_ends_at = 0;  // unix seconds: the end of `date` in the zone
};

// POST /api/v1/signin:
// {"date","awarded_points","already_signed_in","streak_days","total_points","month_days"}
std::string render_signin(const Status& status, std::int64_t awarded_points);
// GET /api/v1/signin:
// {"date","signed_in_today","streak_days","total_points","month_days"}
std::string render_status(const Status& status);

// "1,2,25" → {1, 2, 25}; "" → {}. nullopt when malformed or out of 1..31.
std::optional<std::vector<int>> parse_days(std::string_view text);

// Cached form of a signed-in status (Redis key user:{id}:signin):
//   s1 <date> <day_ends_at> <streak_days> <total_points> <d,d,d>
// decode_status() returns nullopt for anything else (and only ever yields
// signed_in_today = true: only those are cached).
std::string encode_status(const Status& status);
std::optional<Status> decode_status(std::string_view text);

// Whether a cached status may still answer at `now` (unix seconds).
bool still_today(const Status& status, std::int64_t now, std::chrono::seconds margin) noexcept;

}  // namespace surge::signin
