#pragma once

// Structured logging: one JSON object per line on stderr.
//
//   log::info("server started", {{"port", 8080}, {"threads", 2}});
//   -> {"ts":"2026-11-25T08:00:00.123456Z","level":"info","msg":"server
//   started","port":8080,"threads":2}
//
// spdlog provides the sink, the level filter and the locking; the line itself
// is built here so that the output is JSON whatever the message holds
// (quotes, control characters and invalid UTF-8 are escaped or replaced).
//
// Thread safety: every function may be called from any thread. init() may be
// called again to change the level; lines in flight use either level.
// Cost: a disabled level costs one relaxed atomic load (the fields are built
// by the caller, but nothing is formatted). Hot paths that must compute their
// fields (the access log) test enabled() first.
//
// Fields hold views: the strings they point to must live until the call
// returns, which is automatic for temporaries in the call expression.
// Field keys are emitted as given; "ts", "level" and "msg" are taken.

#include <chrono>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace surge::log {

enum class Level { kTrace, kDebug, kInfo, kWarn, kError, kOff };

// "trace", "debug", "info", "warn", "error", "off"; throws
// std::invalid_argument naming the bad level otherwise.
Level parse_level(std::string_view name);

std::string_view level_name(Level level) noexcept;

// A field value: text, a signed or unsigned integer, a double or a bool.
// Implicit on purpose, so call sites read {"port", 8080}; the constructors
// route every integer type by signedness, where a plain std::variant would
// find `int` ambiguous.
class Value {
 public:
  using Storage = std::variant<std::string_view, std::int64_t, std::uint64_t, double, bool>;

  Value(std::string_view text) noexcept : v_(text) {}  // NOLINT(google-explicit-constructor)
  Value(const char* text) noexcept
      : v_(std::string_view(text)) {}  // NOLINT(google-explicit-constructor)
  Value(const std::string& text) noexcept
      : v_(std::string_view(text)) {}  // NOLINT(google-explicit-constructor)
  Value(bool b) noexcept : v_(b) {}    // NOLINT(google-explicit-constructor)
  template <std::signed_integral T>
  Value(T n) noexcept : v_(static_cast<std::int64_t>(n)) {}  // NOLINT(google-explicit-constructor)
  template <std::unsigned_integral T>
  requires(!std::same_as<T, bool>) Value(T n)
  noexcept : v_(static_cast<std::uint64_t>(n)) {}  // NOLINT(google-explicit-constructor)
  template <std::floating_point T>
  Value(T x) noexcept : v_(static_cast<double>(x)) {}  // NOLINT(google-explicit-constructor)

  const Storage& get() const noexcept { return v_; }

 private:
  Storage v_;
};

struct Field {
  std::string_view key;
  Value value;
};

// Sets the level of the process logger (creating it on first use).
// Throws std::invalid_argument on an unknown level name. Before init() the
// level is info.
void init(std::string_view level);

// Whether a line at `level` would be written now.
bool enabled(Level level) noexcept;

// Writes one line if `level` is enabled. Never throws: a line that cannot be
// written is dropped (logging must not take the process down).
void write(Level level, std::string_view msg, std::span<const Field> fields) noexcept;

inline void trace(std::string_view msg, std::initializer_list<Field> fields = {}) noexcept {
  write(Level::kTrace, msg, {fields.begin(), fields.size()});
}
inline void debug(std::string_view msg, std::initializer_list<Field> fields = {}) noexcept {
  write(Level::kDebug, msg, {fields.begin(), fields.size()});
}
inline void info(std::string_view msg, std::initializer_list<Field> fields = {}) noexcept {
  write(Level::kInfo, msg, {fields.begin(), fields.size()});
}
inline void warn(std::string_view msg, std::initializer_list<Field> fields = {}) noexcept {
  write(Level::kWarn, msg, {fields.begin(), fields.size()});
}
inline void error(std::string_view msg, std::initializer_list<Field> fields = {}) noexcept {
  write(Level::kError, msg, {fields.begin(), fields.size()});
}

// The JSON line write() emits, without the trailing newline. Exposed for
// tests and for callers that ship lines elsewhere.
std::string format_line(std::chrono::system_clock::time_point ts, Level level, std::string_view msg,
                        std::span<const Field> fields);
inline std::string format_line(std::chrono::system_clock::time_point ts, Level level,
                               std::string_view msg, std::initializer_list<Field> fields = {}) {
  return format_line(ts, level, msg, std::span<const Field>(fields.begin(), fields.size()));
}

}  // namespace surge::log
