#include "log/log.hpp"

#include <array>
#include <cmath>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <variant>

#include <fmt/format.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace surge::log {
namespace {

// ===========================================================================
// JSON primitives
// ===========================================================================

// Length of the well-formed UTF-8 sequence starting at s[i] (a lead byte
// >= 0x80), or 0 when it is malformed: overlong forms, surrogates, code
// points above U+10FFFF and truncated sequences are all rejected, as in the
// table of RFC 3629 section 4.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
  const auto at = [&](std::size_t k) -> unsigned {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0U;
  };
  const auto cont = [](unsigned b, unsigned lo = 0x80, unsigned hi = 0xBF) {
    return b >= lo && b <= hi;
  };
  const unsigned lead = at(0);
  if (lead >= 0xC2 && lead <= 0xDF) {
    return cont(at(1)) ? 2 : 0;
  }
  if (lead == 0xE0) {
    return cont(at(1), 0xA0) && cont(at(2)) ? 3 : 0;
  }
  if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
    return cont(at(1)) && cont(at(2)) ? 3 : 0;
  }
  if (lead == 0xED) {  // U+D800..U+DFFF are surrogates, not characters
    return cont(at(1), 0x80, 0x9F) && cont(at(2)) ? 3 : 0;
  }
  if (lead == 0xF0) {
    return cont(at(1), 0x90) && cont(at(2)) && cont(at(3)) ? 4 : 0;
  }
  if (lead >= 0xF1 && lead <= 0xF3) {
    return cont(at(1)) && cont(at(2)) && cont(at(3)) ? 4 : 0;
  }
  if (lead == 0xF4) {
    return cont(at(1), 0x80, 0x8F) && cont(at(2)) && cont(at(3)) ? 4 : 0;
  }
  return 0;
}

// A JSON string literal. Log text often carries request data, so the line
// must stay one valid JSON line whatever arrives: quote and backslash are
// escaped, control characters become \n, \r, \t or \u00XX, and each byte of
// malformed UTF-8 becomes U+FFFD. Clean runs are copied in one append.
void append_string(fmt::memory_buffer& out, std::string_view s) {
  static constexpr std::string_view kHex = "0123456789abcdef";
  out.push_back('"');
  std::size_t clean_from = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (const std::size_t len = utf8_sequence_length(s, i); len != 0) {
        i += len;
        continue;
      }
    }
    out.append(s.data() + clean_from, s.data() + i);
    switch (c) {
      case '"':
        out.append(std::string_view("\\\""));
        break;
      case '\\':
        out.append(std::string_view("\\\\"));
        break;
      case '\n':
        out.append(std::string_view("\\n"));
        break;
      case '\r':
        out.append(std::string_view("\\r"));
        break;
      case '\t':
        out.append(std::string_view("\\t"));
        break;
      default:
        if (c >= 0x80) {
          out.append(std::string_view("\\ufffd"));
        } else {
          const std::array<char, 6> escape = {'\\', 'u', '0', '0', kHex[c >> 4U], kHex[c & 0xFU]};
          out.append(escape.begin(), escape.end());
        }
    }
    ++i;
    clean_from = i;
  }
  out.append(s.data() + clean_from, s.data() + s.size());
  out.push_back('"');
}

void append_value(fmt::memory_buffer& out, const Value& value) {
  std::visit(
      [&out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string_view>) {
          append_string(out, v);
        } else if constexpr (std::is_same_v<T, bool>) {
          out.append(v ? std::string_view("true") : std::string_view("false"));
        } else if constexpr (std::is_same_v<T, double>) {
          // JSON has no NaN or infinity.
          if (std::isfinite(v)) {
            fmt::format_to(std::back_inserter(out), "{}", v);
          } else {
            out.append(std::string_view("null"));
          }
        } else {
          fmt::format_to(std::back_inserter(out), "{}", v);
        }
      },
      value.get());
}

// RFC 3339 UTC with microseconds: 2026-11-25T08:00:00.123456Z.
void append_timestamp(fmt::memory_buffer& out, std::chrono::system_clock::time_point ts) {
  using namespace std::chrono;
  const auto us = floor<microseconds>(ts);
  const auto day = floor<days>(us);
  const year_month_day ymd{day};
  const hh_mm_ss time{us - day};
  fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                 static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                 static_cast<unsigned>(ymd.day()), time.hours().count(), time.minutes().count(),
                 time.seconds().count(), time.subseconds().count());
}

void append_line(fmt::memory_buffer& out, std::chrono::system_clock::time_point ts, Level level,
                 std::string_view msg, std::span<const Field> fields) {
  out.append(std::string_view(R"({"ts":")"));
  append_timestamp(out, ts);
  out.append(std::string_view(R"(","level":")"));
  out.append(level_name(level));
  out.append(std::string_view(R"(","msg":)"));
  append_string(out, msg);
  for (const Field& field : fields) {
    out.push_back(',');
    append_string(out, field.key);
    out.push_back(':');
    append_value(out, field.value);
  }
  out.push_back('}');
}

// ===========================================================================
// The process logger
// ===========================================================================

spdlog::level::level_enum to_spdlog(Level level) noexcept {
  switch (level) {
    case Level::kTrace:
      return spdlog::level::trace;
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
    case Level::kOff:
      return spdlog::level::off;
  }
  return spdlog::level::off;
}

// Created on first use (so logging from any static initializer works) and
// never destroyed (so a thread logging during exit never meets a dead
// logger). Not registered with spdlog's registry: nothing looks it up by name.
spdlog::logger& logger() {
  // NOLINTNEXTLINE(cppcoreguidelines-avoid-non-const-global-variables): init() sets its level.
  static spdlog::logger* const instance = [] {
    // NOLINTNEXTLINE(cppcoreguidelines-owning-memory): leaked on purpose, see above.
    auto* l = new spdlog::logger("surge", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("%v");  // the message is the whole JSON line
    l->set_level(spdlog::level::info);
    return l;
  }();
  return *instance;
}

}  // namespace

// ===========================================================================
// Public entry points
// ===========================================================================

Level parse_level(std::string_view name) {
  for (const Level level :
       {Level::kTrace, Level::kDebug, Level::kInfo, Level::kWarn, Level::kError, Level::kOff}) {
    if (name == level_name(level)) {
      return level;
    }
  }
  throw std::invalid_argument(fmt::format(
      "unknown log level \"{}\" (expected trace, debug, info, warn, error or off)", name));
}

std::string_view level_name(Level level) noexcept {
  switch (level) {
    case Level::kTrace:
      return "trace";
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
    case Level::kOff:
      return "off";
  }
  return "off";
}

void init(std::string_view level) {
  logger().set_level(to_spdlog(parse_level(level)));
}

bool enabled(Level level) noexcept {
  return level != Level::kOff && logger().should_log(to_spdlog(level));
}

void write(Level level, std::string_view msg, std::span<const Field> fields) noexcept {
  if (!enabled(level)) {
    return;
  }
  try {
    fmt::memory_buffer line;
    append_line(line, std::chrono::system_clock::now(), level, msg, fields);
    logger().log(to_spdlog(level), spdlog::string_view_t(line.data(), line.size()));
  } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory while logging; drop the line
  }
}

std::string format_line(std::chrono::system_clock::time_point ts, Level level, std::string_view msg,
                        std::span<const Field> fields) {
  fmt::memory_buffer line;
  append_line(line, ts, level, msg, fields);
  return fmt::to_string(line);
}

}  // namespace surge::log
