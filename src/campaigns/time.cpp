#include "campaigns/time.hpp"

#include <chrono>

#include <fmt/format.h>

namespace surge::campaigns {

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) {
    return false;
  }
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::optional<std::int64_t> parse_rfc3339_ms(std::string_view s) {
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (!digits(s, 0, 4, year) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, month) ||
      s[7] != '-' || !digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(s, 11, 2, hour) || s[13] != ':' || !digits(s, 14, 2, minute) || s[16] != ':' ||
      !digits(s, 17, 2, second)) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year(year),
                                        std::chrono::month(static_cast<unsigned>(month)),
                                        std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  std::int64_t ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t n = 0;
    std::int64_t scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      ms += scale * (s[pos] - '0');
      scale /= 10;
      ++pos;
      ++n;
    }
    if (n == 0) {
      return std::nullopt;
    }
  }
  std::int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = 0;
    int om = 0;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_s = (s[pos] == '+' ? 1 : -1) * (std::int64_t{oh} * 3600 + std::int64_t{om} * 60);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) {
    return std::nullopt;
  }
  const std::int64_t days = std::chrono::sys_days(ymd).time_since_epoch().count();
  const std::int64_t secs =
      days * 86400 + std::int64_t{hour} * 3600 + std::int64_t{minute} * 60 + second - offset_s;
  return secs * 1000 + ms;
}

std::string format_rfc3339(std::int64_t unix_ms) {
  const std::int64_t floor_s = (unix_ms >= 0 ? unix_ms : unix_ms - 999) / 1000;
  const std::int64_t ms = unix_ms - floor_s * 1000;
  const std::int64_t days = (floor_s >= 0 ? floor_s : floor_s - 86399) / 86400;
  const std::int64_t in_day = floor_s - days * 86400;
  const std::chrono::year_month_day ymd{
      std::chrono::sys_days(std::chrono::days(static_cast<int>(days)))};
  std::string out =
      fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  in_day / 3600, (in_day / 60) % 60, in_day % 60);
  if (ms != 0) {
    out += fmt::format(".{:03}", ms);
  }
  out += 'Z';
  return out;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view campaign_status(std::int64_t now, std::int64_t starts_ms, std::int64_t ends_ms,
                                 std::int64_t remaining) {
  if (now < starts_ms) {
    return "pending";
  }
  if (now >= ends_ms || remaining <= 0) {
    return "finished";
  }
  return "active";
}

std::int64_t hot_expiry_ms(std::int64_t ends_ms, std::chrono::seconds retention) {
  if (retention.count() <= 0) {
    return 0;
  }
  return ends_ms + std::chrono::duration_cast<std::chrono::milliseconds>(retention).count();
}

}  // namespace surge::campaigns
