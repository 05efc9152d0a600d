#include "signin/status.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

namespace surge::signin {

void validate(const Settings& s) {
  if (!plausible_time_zone(s.time_zone)) {
    throw std::invalid_argument("signin.time_zone: unknown time zone \"" + s.time_zone + "\"");
  }
  if (s.base_points < 1) {
    throw std::invalid_argument("signin.base_points: must be at least 1");
  }
  if (s.streak_bonus_points < 0 || s.streak_bonus_max_days < 0) {
    throw std::invalid_argument("signin.streak_bonus_*: must not be negative");
  }
  // The award is stored in an integer column.
  if (static_cast<std::int64_t>(s.streak_bonus_points) * s.streak_bonus_max_days + s.base_points >
      2'147'483'647) {
    throw std::invalid_argument("signin: the largest award does not fit an integer");
  }
  if (s.day_end_margin.count() < 0 || s.day_end_margin > std::chrono::hours(1)) {
    throw std::invalid_argument("signin.day_end_margin: must be within 0..1 h");
  }
}

bool plausible_time_zone(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return false;
  }
  std::size_t segment = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '/') {
      const std::string_view part = name.substr(segment, i - segment);
      if (part.empty() || part == "." || part == "..") {
        return false;
      }
      segment = i + 1;
      continue;
    }
    const char c = name[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '+' || c == '-' || c == '.';
    if (!ok) {
      return false;
    }
  }
  std::error_code ec;
  const std::filesystem::path zoneinfo("/usr/share/zoneinfo");
  if (!std::filesystem::is_directory(zoneinfo, ec)) {
    return true;  // nothing to check against here; the database will tell
  }
  return std::filesystem::is_regular_file(zoneinfo / std::string(name), ec);
}

std::int64_t points_for(std::int64_t streak_before, const Settings& settings) noexcept {
  const std::int64_t days =
      std::clamp<std::int64_t>(streak_before, 0, settings.streak_bonus_max_days);
  return settings.base_points + settings.streak_bonus_points * days;
}

namespace {

boost::json::array days_json(const std::vector<int>& days) {
  boost::json::array a;
  a.reserve(days.size());
  for (const int d : days) {
    a.emplace_back(d);
  }
  return a;
}

}  // namespace

std::string render_signin(const Status& status, std::int64_t awarded_points) {
  boost::json::object o;
  o.reserve(6);
  o.emplace("date", status.date);
  o.emplace("awarded_points", awarded_points);
  o.emplace("already_signed_in", awarded_points == 0);
  o.emplace("streak_days", status.streak_days);
  o.emplace("total_points", status.total_points);
  o.emplace("month_days", days_json(status.month_days));
  return boost::json::serialize(o);
}

std::string render_status(const Status& status) {
  boost::json::object o;
  o.reserve(5);
  o.emplace("date", status.date);
  o.emplace("signed_in_today", status.signed_in_today);
  o.emplace("streak_days", status.streak_days);
  o.emplace("total_points", status.total_points);
  o.emplace("month_days", days_json(status.month_days));
  return boost::json::serialize(o);
}

std::optional<std::vector<int>> parse_days(std::string_view text) {
  std::vector<int> days;
  if (text.empty()) {
    return days;
  }
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string_view item = text.substr(start, comma - start);
    int d = 0;
    const auto r = std::from_chars(item.data(), item.data() + item.size(), d);
    if (item.empty() || r.ec != std::errc{} || r.ptr != item.data() + item.size() || d < 1 ||
        d > 31) {
      return std::nullopt;
    }
    days.push_back(d);
    start = comma + 1;
  }
  return days;
}

std::string encode_status(const Status& status) {
  std::string days;
  for (const int d : status.month_days) {
    if (!days.empty()) {
      days += ',';
    }
    days += std::to_string(d);
  }
  return fmt::format("s1 {} {} {} {} {}", status.date, status.day_ends_at, status.streak_days,
                     status.total_points, days);
}

namespace {

bool parse_i64(std::string_view text, std::int64_t& out) {
  const auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && r.ec == std::errc{} && r.ptr == text.data() + text.size();
}

bool valid_date(std::string_view d) {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') {
    return false;
  }
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (i != 4 && i != 7 && (d[i] < '0' || d[i] > '9')) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<Status> decode_status(std::string_view text) {
  // "s1" date ends streak total days — the days field may be empty.
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (parts.size() < 6) {
    const std::size_t space = text.find(' ', start);
    if (parts.size() == 5 || space == std::string_view::npos) {
      parts.push_back(text.substr(start));
      break;
    }
    parts.push_back(text.substr(start, space - start));
    start = space + 1;
  }
  if (parts.size() != 6 || parts[0] != "s1" || !valid_date(parts[1])) {
    return std::nullopt;
  }
  Status s;
  s.date = std::string(parts[1]);
  s.signed_in_today = true;
  if (!parse_i64(parts[2], s.day_ends_at) || !parse_i64(parts[3], s.streak_days) ||
      !parse_i64(parts[4], s.total_points) || s.streak_days < 1 || s.total_points < 0) {
    return std::nullopt;
  }
  std::optional<std::vector<int>> days = parse_days(parts[5]);
  if (!days || days->empty()) {
    return std::nullopt;
  }
  s.month_days = std::move(*days);
  return s;
}

bool still_today(const Status& status, std::int64_t now, std::chrono::seconds margin) noexcept {
  return now < status.day_ends_at - margin.count();
}

}  // namespace surge::signin
