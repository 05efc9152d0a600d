// toml++ is built in compiled mode (TOML_HEADER_ONLY=0, set by CMake): this is
// the one translation unit of ours that instantiates its implementation.
#define TOML_IMPLEMENTATION

#include "app/config.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <ratio>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

namespace surge::app {
namespace {

// ===========================================================================
// The settings table: one row per setting. Adding a section means adding its
// struct to Config and its rows here; file parsing, environment overrides,
// validation and describe() follow.
// ===========================================================================

enum class Kind {
  kString,
  kUint,        // non-negative integer
  kBoolean,     // file: true/false; env: true/false/1/0/yes/no
  kDurationMs,  // milliseconds: 1500, or with a unit: "1500ms", "10s", "5m", "1h"
  kSize,        // bytes: 16384, or with a unit: "16KiB", "1MiB", "1GiB"
  kDurationS,   // seconds: 60, or with a unit: "60s", "5m", "1h", "1d"
  kStringList,  // file: an array of strings; env: comma-separated, "" = empty
};

using StringList = std::vector<std::string>;

// A parsed setting value: strings stay strings, every numeric kind is a
// count of its unit (ms, bytes, s).
using Value = std::variant<std::string, std::uint64_t, bool, StringList>;

struct Rule {
  std::uint64_t min = 0;  // numeric kinds: inclusive range
  std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  std::vector<std::string_view> choices{};  // string kind: allowed values (empty: any)
  bool allow_empty = false;                 // string kind
  bool secret = false;                      // describe() masks it
  // string and string_list kinds: describe() and error messages mask the
  // password of a URI / libpq key=value string.
  bool redact_uri = false;
  std::size_t min_items = 0;  // string_list kind
  // string_list kind: every item must be non-empty and, when set, pass
  // item_ok; string kind: a non-empty value must pass item_ok.
  // item_expectation says what item_ok wants.
  bool (*item_ok)(std::string_view) = nullptr;
  std::string_view item_expectation = "a non-empty string";
};

struct Setting {
  std::string_view key;  // "section.name"; also the file path and the env name
  Kind kind;
  Rule rule;
  std::function<void(Config&, const Value&)> store;
  std::function<Value(const Config&)> read;
};

template <class T>
inline constexpr bool kIsIntegerField = std::is_integral_v<T> && !std::is_same_v<T, bool>;

template <class T>
inline constexpr bool kIsDuration = false;
template <class Rep, class Period>
inline constexpr bool kIsDuration<std::chrono::duration<Rep, Period>> = true;

// Binds a row to a field of Config. `access` is a generic lambda returning a
// reference to the field, so one lambda serves for reading and writing. The
// static_asserts keep kind and field type in step; the range is clamped to
// what the field can hold so a store can never truncate.
template <Kind K, class Access>
Setting row(std::string_view key, Access access, Rule rule = {}) {
  using Field = std::remove_cvref_t<decltype(access(std::declval<Config&>()))>;
  if constexpr (K == Kind::kString) {
    static_assert(std::is_same_v<Field, std::string>);
  } else if constexpr (K == Kind::kStringList) {
    static_assert(std::is_same_v<Field, StringList>);
  } else if constexpr (K == Kind::kBoolean) {
    static_assert(std::is_same_v<Field, bool>);
  } else if constexpr (K == Kind::kDurationMs) {
    // Any duration at least as fine as a millisecond (steady_clock's too).
    static_assert(kIsDuration<Field> &&
                  std::ratio_less_equal_v<typename Field::period, std::milli>);
    rule.max = std::min<std::uint64_t>(
        rule.max, std::chrono::duration_cast<std::chrono::milliseconds>(Field::max()).count());
  } else if constexpr (K == Kind::kDurationS) {
    static_assert(std::is_same_v<Field, std::chrono::seconds>);
    rule.max = std::min<std::uint64_t>(rule.max, std::numeric_limits<std::int64_t>::max());
  } else {
    static_assert(kIsIntegerField<Field>);
    rule.max = std::min<std::uint64_t>(rule.max, std::numeric_limits<Field>::max());
  }
  return Setting{
      .key = key,
      .kind = K,
      .rule = std::move(rule),
      .store =
          [access](Config& config, const Value& value) {
            auto& field = access(config);
            if constexpr (K == Kind::kString || K == Kind::kBoolean || K == Kind::kStringList) {
              field = std::get<Field>(value);
            } else if constexpr (K == Kind::kDurationMs) {
              field = std::chrono::duration_cast<Field>(
                  std::chrono::milliseconds(std::get<std::uint64_t>(value)));
            } else if constexpr (K == Kind::kDurationS) {
              field = std::chrono::seconds(std::get<std::uint64_t>(value));
            } else {
              field = static_cast<Field>(std::get<std::uint64_t>(value));
            }
          },
      .read = [access](const Config& config) -> Value {
        const auto& field = access(config);
        if constexpr (K == Kind::kString || K == Kind::kBoolean || K == Kind::kStringList) {
          return field;
        } else if constexpr (K == Kind::kDurationMs) {
          return static_cast<std::uint64_t>(
              std::chrono::duration_cast<std::chrono::milliseconds>(field).count());
        } else if constexpr (K == Kind::kDurationS) {
          return static_cast<std::uint64_t>(field.count());
        } else {
          return static_cast<std::uint64_t>(field);
        }
      },
  };
}

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = 1024 * kKiB;
constexpr std::uint64_t kGiB = 1024 * kMiB;
constexpr std::uint64_t kSecond = 1000;
constexpr std::uint64_t kMinute = 60 * kSecond;
constexpr std::uint64_t kHour = 3600 * kSecond;
constexpr std::uint64_t kDaySeconds = 86400;  // duration_s rows count seconds

bool is_module_name(std::string_view text) {
  return std::ranges::find(kModules, text) != kModules.end();
}

// "host:port" or "[v6 address]:port" with a port 1..65535 (redis shards).
bool is_host_port(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || text.substr(close + 1, 1) != ":") {
      return false;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos || text.find(':', colon + 1) != std::string_view::npos) {
      return false;  // no port, or a bare IPv6 address (brackets required)
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  const bool host_ok = !host.empty() && std::ranges::none_of(host, [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte == 0x7f || c == '/' || c == '@' || c == '[' || c == ']';
  });
  if (!host_ok || port.empty() || port.size() > 5 ||
      !std::ranges::all_of(port, [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  const int number = std::stoi(std::string(port));
  return number >= 1 && number <= 65535;
}

// Rows of one section stay together: describe() starts a [section] header
// whenever the section changes.
const std::vector<Setting>& settings() {
  static const std::vector<Setting> table = {
      row<Kind::kString>(
          "server.address", [](auto& c) -> auto& { return c.server.address; }),
      row<Kind::kUint>(
          "server.port", [](auto& c) -> auto& { return c.server.port; }),
      // 0 = one per core; the cap only catches typos (an extra zero or two).
      row<Kind::kUint>("server.threads", [](auto& c) -> auto& { return c.server.threads; },
                       {.max = 4096}),
      row<Kind::kUint>("server.max_connections",
                       [](auto& c) -> auto& { return c.server.max_connections; },
                       {.min = 1, .max = 10'000'000}),
      // Below a few hundred bytes no real request line plus Host fits.
      row<Kind::kSize>("server.max_header_bytes",
                       [](auto& c) -> auto& { return c.server.max_header_bytes; },
                       {.min = 256, .max = 16 * kMiB}),
      // 0 is allowed: a server that accepts no bodies at all.
      row<Kind::kSize>("server.max_body_bytes",
                       [](auto& c) -> auto& { return c.server.max_body_bytes; },
                       {.min = 0, .max = kGiB}),
      row<Kind::kDurationMs>("server.header_timeout_ms",
                             [](auto& c) -> auto& { return c.server.header_timeout; },
                             {.min = 1, .max = kHour}),
      row<Kind::kDurationMs>("server.idle_timeout_ms",
                             [](auto& c) -> auto& { return c.server.idle_timeout; },
                             {.min = 1, .max = 24 * kHour}),
      // 0 = drop in-flight work at once on SIGTERM.
      row<Kind::kDurationMs>("server.shutdown_timeout_ms",
                             [](auto& c) -> auto& { return c.server.shutdown_timeout; },
                             {.min = 0, .max = kHour}),
      row<Kind::kBoolean>(
          "server.access_log", [](auto& c) -> auto& { return c.server.access_log; }),
      row<Kind::kStringList>("server.modules", [](auto& c) -> auto& { return c.modules; },
                             {.item_ok = is_module_name,
                              .item_expectation = "one of user, catalog, orders, campaigns"}),
      row<Kind::kString>("log.level", [](auto& c) -> auto& { return c.log.level; },
                         {.choices = {"trace", "debug", "info", "warn", "error", "off"}}),

      // "" = no database configured (the commands that need one refuse).
      row<Kind::kString>("database.primary", [](auto& c) -> auto& { return c.database.primary; },
                         {.allow_empty = true, .redact_uri = true}),
      row<Kind::kStringList>("database.replicas",
                             [](auto& c) -> auto& { return c.database.replicas; },
                             {.redact_uri = true}),
      row<Kind::kUint>("database.connections_per_thread",
                       [](auto& c) -> auto& { return c.database.connections_per_thread; },
                       {.min = 1, .max = 256}),
      row<Kind::kDurationMs>("database.connect_timeout_ms",
                             [](auto& c) -> auto& { return c.database.connect_timeout; },
                             {.min = 1, .max = 10 * kMinute}),
      row<Kind::kDurationMs>("database.query_timeout_ms",
                             [](auto& c) -> auto& { return c.database.query_timeout; },
                             {.min = 1, .max = kHour}),
      row<Kind::kDurationMs>("database.max_replica_lag_ms",
                             [](auto& c) -> auto& { return c.database.max_replica_lag; },
                             {.min = 1, .max = kHour}),
      // The health check runs this often per node: below 10 ms it is a busy loop.
      row<Kind::kDurationMs>("database.health_interval_ms",
                             [](auto& c) -> auto& { return c.database.health_interval; },
                             {.min = 10, .max = 10 * kMinute}),
      // 0 = no read-your-writes: reads right after a write may hit a replica.
      row<Kind::kDurationMs>("database.read_your_writes_window_ms",
                             [](auto& c) -> auto& { return c.database.read_your_writes_window; },
                             {.min = 0, .max = kHour}),

      // No shards = no Redis configured.
      row<Kind::kStringList>(
          "redis.shards", [](auto& c) -> auto& { return c.redis.shards; },
          {.item_ok = is_host_port, .item_expectation = "host:port with a port 1..65535"}),
      row<Kind::kUint>("redis.connections_per_thread",
                       [](auto& c) -> auto& { return c.redis.connections_per_thread; },
                       {.min = 1, .max = 256}),
      row<Kind::kDurationMs>("redis.connect_timeout_ms",
                             [](auto& c) -> auto& { return c.redis.connect_timeout; },
                             {.min = 1, .max = 10 * kMinute}),
      row<Kind::kDurationMs>("redis.command_timeout_ms",
                             [](auto& c) -> auto& { return c.redis.command_timeout; },
                             {.min = 1, .max = kHour}),
      row<Kind::kUint>("redis.breaker_failures",
                       [](auto& c) -> auto& { return c.redis.breaker_failures; },
                       {.min = 1, .max = 1'000'000}),
      row<Kind::kDurationMs>("redis.breaker_open_for_ms",
                             [](auto& c) -> auto& { return c.redis.breaker_open_for; },
                             {.min = 1, .max = kHour}),
      row<Kind::kDurationMs>("redis.health_interval_ms",
                             [](auto& c) -> auto& { return c.redis.health_interval; },
                             {.min = 10, .max = 10 * kMinute}),

      row<Kind::kBoolean>(
          "cache.l1_enabled", [](auto& c) -> auto& { return c.cache.l1_enabled; }),
      row<Kind::kBoolean>(
          "cache.l2_enabled", [](auto& c) -> auto& { return c.cache.l2_enabled; }),
      row<Kind::kUint>("cache.l1_max_entries",
                       [](auto& c) -> auto& { return c.cache.l1.max_entries; },
                       {.min = 1, .max = 1'000'000'000}),
      row<Kind::kSize>("cache.l1_max_bytes", [](auto& c) -> auto& { return c.cache.l1.max_bytes; },
                       {.min = kKiB, .max = 1024 * kGiB}),
      row<Kind::kDurationMs>("cache.l1_ttl_ms", [](auto& c) -> auto& { return c.cache.l1.ttl; },
                             {.min = 1, .max = 24 * kHour}),
      row<Kind::kDurationMs>("cache.l1_negative_ttl_ms",
                             [](auto& c) -> auto& { return c.cache.l1.negative_ttl; },
                             {.min = 1, .max = 24 * kHour}),
      // 0 = max(16, 2 x hardware threads); rounded up to a power of two.
      row<Kind::kUint>("cache.l1_shards", [](auto& c) -> auto& { return c.cache.l1.shards; },
                       {.max = 65536}),
      row<Kind::kDurationS>("cache.l2_ttl_s", [](auto& c) -> auto& { return c.cache.l2_ttl; },
                            {.min = 1, .max = 30 * kDaySeconds}),
      row<Kind::kDurationS>("cache.l2_negative_ttl_s",
                            [](auto& c) -> auto& { return c.cache.l2_negative_ttl; },
                            {.min = 1, .max = 30 * kDaySeconds}),

      // "" = not configured: the server refuses the routes that need it.
      row<Kind::kString>("auth.token_secret", [](auto& c) -> auto& { return c.auth.token_secret; },
                         {.allow_empty = true, .secret = true}),
      row<Kind::kString>("auth.admin_token", [](auto& c) -> auto& { return c.auth.admin_token; },
                         {.allow_empty = true, .secret = true}),
      row<Kind::kDurationS>("auth.token_ttl_s", [](auto& c) -> auto& { return c.auth.token_ttl; },
                            {.min = 1, .max = 365 * kDaySeconds}),

      // Each hashing thread holds hash_memlimit while it works.
      row<Kind::kUint>("users.hash_threads",
                       [](auto& c) -> auto& { return c.users.passwords.threads; },
                       {.min = 1, .max = 256}),
      row<Kind::kUint>("users.hash_max_pending",
                       [](auto& c) -> auto& { return c.users.passwords.max_pending; },
                       {.min = 1, .max = 1'000'000}),
      // libsodium's argon2id bounds: at least 1 pass, at least 8 KiB.
      row<Kind::kUint>("users.hash_opslimit",
                       [](auto& c) -> auto& { return c.users.passwords.opslimit; },
                       {.min = 1, .max = 64}),
      row<Kind::kSize>("users.hash_memlimit",
                       [](auto& c) -> auto& { return c.users.passwords.memlimit; },
                       {.min = 8 * kKiB, .max = 4 * kGiB}),
      row<Kind::kBoolean>(
          "users.login_limit_enabled",
          [](auto& c) -> auto& { return c.users.login_limits.enabled; }),
      row<Kind::kUint>("users.login_limit_per_name",
                       [](auto& c) -> auto& { return c.users.login_limits.per_name; },
                       {.min = 1, .max = 1'000'000}),
      row<Kind::kUint>("users.login_limit_per_address",
                       [](auto& c) -> auto& { return c.users.login_limits.per_address; },
                       {.min = 1, .max = 1'000'000}),
      row<Kind::kDurationS>("users.login_limit_window_s",
                            [](auto& c) -> auto& { return c.users.login_limits.window; },
                            {.min = 1, .max = kDaySeconds}),

      row<Kind::kDurationS>("profile.l2_ttl_s", [](auto& c) -> auto& { return c.profile.l2_ttl; },
                            {.min = 1, .max = 30 * kDaySeconds}),
      row<Kind::kDurationS>("profile.marker_ttl_s",
                            [](auto& c) -> auto& { return c.profile.marker_ttl; },
                            {.min = 1, .max = kDaySeconds}),

      row<Kind::kString>(
          "signin.time_zone", [](auto& c) -> auto& { return c.signin.time_zone; },
          {.item_ok = signin::plausible_time_zone, .item_expectation = "an IANA time zone name"}),
      row<Kind::kUint>("signin.base_points", [](auto& c) -> auto& { return c.signin.base_points; },
                       {.min = 1, .max = 1'000'000}),
      row<Kind::kUint>("signin.streak_bonus_points",
                       [](auto& c) -> auto& { return c.signin.streak_bonus_points; },
                       {.max = 1'000'000}),
      row<Kind::kUint>("signin.streak_bonus_max_days",
                       [](auto& c) -> auto& { return c.signin.streak_bonus_max_days; },
                       {.max = 366}),
      row<Kind::kDurationS>("signin.day_end_margin_s",
                            [](auto& c) -> auto& { return c.signin.day_end_margin; },
                            {.max = 3600}),

      row<Kind::kString>(
          "publish.dir", [](auto& c) -> auto& { return c.publish.dir; }),
      row<Kind::kDurationS>("publish.retention_s",
                            [](auto& c) -> auto& { return c.publish.retention; },
                            {.min = 1, .max = 30 * kDaySeconds}),
      row<Kind::kBoolean>(
          "publish.on_admin_write", [](auto& c) -> auto& { return c.publish.on_admin_write; }),
      row<Kind::kDurationS>("campaigns.hot_retention_s",
                            [](auto& c) -> auto& { return c.campaigns.hot_retention; },
                            {.min = 0, .max = 365 * kDaySeconds}),
      row<Kind::kString>(
          "worker.address", [](auto& c) -> auto& { return c.worker.address; }),
      row<Kind::kUint>(
          "worker.port", [](auto& c) -> auto& { return c.worker.port; }),
      row<Kind::kUint>("worker.threads", [](auto& c) -> auto& { return c.worker.threads; },
                       {.min = 1, .max = 256}),
      row<Kind::kUint>("worker.consumers",
                       [](auto& c) -> auto& { return c.worker.queue.consumers; },
                       {.min = 1, .max = 256}),
      row<Kind::kUint>("worker.batch_size",
                       [](auto& c) -> auto& { return c.worker.queue.batch_size; },
                       {.min = 1, .max = 10'000}),
      row<Kind::kDurationMs>("worker.claim_idle_ms",
                             [](auto& c) -> auto& { return c.worker.queue.claim_idle; },
                             {.min = 100, .max = 3'600'000}),
      row<Kind::kUint>("worker.max_deliveries",
                       [](auto& c) -> auto& { return c.worker.queue.max_deliveries; },
                       {.min = 1, .max = 1000}),
      row<Kind::kDurationMs>("worker.poll_interval_ms",
                             [](auto& c) -> auto& { return c.worker.queue.poll_interval; },
                             {.min = 1, .max = 10'000}),
      // 0 = the worker does not publish (run `surge publish` yourself).
      row<Kind::kDurationS>("worker.publish_interval_s",
                            [](auto& c) -> auto& { return c.worker.publish_interval; },
                            {.min = 0, .max = kDaySeconds}),
  };
  return table;
}

const Setting* find_setting(std::string_view key) {
  for (const auto& s : settings()) {
    if (s.key == key) {
      return &s;
    }
  }
  return nullptr;
}

// True when `key` names a table that holds settings ("server", "log").
bool is_section(std::string_view key) {
  return std::ranges::any_of(settings(), [key](const Setting& s) {
    return s.key.size() > key.size() && s.key.starts_with(key) && s.key[key.size()] == '.';
  });
}

// ===========================================================================
// Text helpers
// ===========================================================================

// A TOML basic string (also fine for error messages: control characters in a
// hostile value cannot garble the terminal).
std::string quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (const char ch : text) {
    const auto byte = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (byte < 0x20 || byte == 0x7f) {
          out += fmt::format("\\u{:04X}", byte);
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    const auto lower = [](char c) {
      return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    };
    return lower(x) == lower(y);
  });
}

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) {
    return {};
  }
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

// An environment list: comma-separated, spaces around items trimmed; "" (or
// only spaces) is the empty list. Empty items stay, for validation to name.
StringList split_list(std::string_view text) {
  StringList items;
  if (trim(text).empty()) {
    return items;
  }
  for (std::size_t start = 0;;) {
    const auto comma = text.find(',', start);
    items.emplace_back(trim(text.substr(start, comma - start)));
    if (comma == std::string_view::npos) {
      return items;
    }
    start = comma + 1;
  }
}

// A connection string with its password replaced by ***: the password of a
// URI's user info (postgresql://user:secret@host), a password= query
// parameter, or a libpq key=value string's password (quoted or not). Other
// text comes back unchanged.
std::string redact_uri(std::string_view text) {
  constexpr std::string_view kMask = "***";
  constexpr auto kNpos = std::string_view::npos;
  std::string out;
  std::size_t copied = 0;  // text[0, copied) is in `out`
  const auto mask = [&](std::size_t from, std::size_t to) {
    out.append(text.substr(copied, from - copied));
    out += kMask;
    copied = to;
  };
  if (const auto scheme = text.find("://"); scheme != kNpos) {
    const std::size_t start = scheme + 3;
    // The user info ends at the last '@' before the query, not at the first
    // '/': a password with an unencoded '/' or '#' is still masked (an '@'
    // in the path over-masks, which is the safe way to be wrong).
    const std::size_t end = std::min(text.find('?', start), text.size());
    const std::string_view rest = text.substr(start, end - start);
    if (const auto at = rest.rfind('@'); at != kNpos) {
      if (const auto colon = rest.find(':'); colon < at && colon + 1 < at) {
        mask(start + colon + 1, start + at);
      }
    }
    if (const auto query = text.find('?', end); query != kNpos) {
      const std::size_t query_end = std::min(text.find('#', query), text.size());
      for (std::size_t param = query + 1; param < query_end;) {
        const std::size_t amp = std::min(text.find('&', param), query_end);
        constexpr std::string_view kKey = "password=";
        if (const auto p = text.substr(param, amp - param);
            p.starts_with(kKey) && p.size() > kKey.size()) {
          mask(param + kKey.size(), amp);
        }
        param = amp + 1;
      }
    }
  } else {
    // keyword = value ..., values optionally in single quotes with \ escapes.
    const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    const auto skip_spaces = [&](std::size_t i) {
      while (i < text.size() && space(text[i])) {
        ++i;
      }
      return i;
    };
    for (std::size_t i = skip_spaces(0); i < text.size(); i = skip_spaces(i)) {
      const std::size_t key_start = i;
      while (i < text.size() && !space(text[i]) && text[i] != '=') {
        ++i;
      }
      const std::string_view key = text.substr(key_start, i - key_start);
      i = skip_spaces(i);
      if (i >= text.size() || text[i] != '=') {
        break;  // not a key=value string
      }
      i = skip_spaces(i + 1);
      const std::size_t value_start = i;
      if (i < text.size() && text[i] == '\'') {
        for (++i; i < text.size() && text[i] != '\''; ++i) {
          if (text[i] == '\\') {
            ++i;
          }
        }
        ++i;  // the closing quote
      } else {
        for (; i < text.size() && !space(text[i]); ++i) {
          if (text[i] == '\\') {
            ++i;
          }
        }
      }
      i = std::min(i, text.size());
      if (key == "password" && i > value_start) {
        mask(value_start, i);
      }
    }
  }
  out.append(text.substr(copied));
  return out;
}

// Digits only: no sign, no spaces, no base prefix. nullopt on overflow.
std::optional<std::uint64_t> parse_digits(std::string_view text) {
  if (text.empty()) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (const char ch : text) {
    if (ch < '0' || ch > '9') {
      return std::nullopt;
    }
    const auto digit = static_cast<std::uint64_t>(ch - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
      return std::nullopt;
    }
    value = value * 10 + digit;
  }
  return value;
}

struct Unit {
  std::string_view suffix;
  std::uint64_t factor;
};

// "<digits>[ ]<unit>" with the unit from `units`; no unit means factor 1.
std::optional<std::uint64_t> parse_with_unit(std::string_view text,
                                             std::initializer_list<Unit> units) {
  const auto* const digits_end =
      std::ranges::find_if(text, [](char c) { return c < '0' || c > '9'; });
  const auto split = static_cast<std::size_t>(digits_end - text.begin());
  const auto number = parse_digits(text.substr(0, split));
  if (!number) {
    return std::nullopt;
  }
  std::string_view suffix = text.substr(split);
  if (suffix.starts_with(' ')) {
    suffix.remove_prefix(1);
  }
  if (suffix.empty()) {
    return number;
  }
  for (const auto& unit : units) {
    if (suffix == unit.suffix) {
      if (*number > std::numeric_limits<std::uint64_t>::max() / unit.factor) {
        return std::nullopt;
      }
      return *number * unit.factor;
    }
  }
  return std::nullopt;
}

std::optional<std::uint64_t> parse_duration_ms(std::string_view text) {
  return parse_with_unit(text, {{"ms", 1}, {"s", kSecond}, {"m", 60 * kSecond}, {"h", kHour}});
}

std::optional<std::uint64_t> parse_duration_s(std::string_view text) {
  return parse_with_unit(text, {{"s", 1}, {"m", 60}, {"h", 3600}, {"d", kDaySeconds}});
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  return parse_with_unit(text, {{"B", 1}, {"KiB", kKiB}, {"MiB", kMiB}, {"GiB", kGiB}});
}

// ===========================================================================
// Validation
// ===========================================================================

enum class Source { kFile, kEnv };

std::string expectation(const Setting& s, Source source) {
  const Rule& r = s.rule;
  switch (s.kind) {
    case Kind::kString:
      if (!r.choices.empty()) {
        return fmt::format("one of {}", fmt::join(r.choices, ", "));
      }
      if (r.item_ok != nullptr) {
        return std::string(r.item_expectation);
      }
      return r.allow_empty ? "a string" : "a non-empty string";
    case Kind::kUint:
      return fmt::format("an integer {}..{}", r.min, r.max);
    case Kind::kBoolean:
      return source == Source::kEnv ? "a boolean (true/false/1/0/yes/no)"
                                    : "a boolean (true/false)";
    case Kind::kDurationMs:
      return fmt::format("a duration {}..{} ms (like 1500, 1500ms, 10s, 5m, 1h)", r.min, r.max);
    case Kind::kSize:
      return fmt::format("a size {}..{} bytes (like 16384, 16KiB, 1MiB)", r.min, r.max);
    case Kind::kDurationS:
      return fmt::format("a duration {}..{} s (like 60, 60s, 5m, 1h, 1d)", r.min, r.max);
    case Kind::kStringList: {
      std::string text = source == Source::kEnv ? "a comma-separated list" : "an array of strings";
      if (r.min_items > 0) {
        text += fmt::format(" with at least {} item{}", r.min_items, r.min_items == 1 ? "" : "s");
      }
      return text;
    }
  }
  return "a valid value";
}

// The value obeys the row's rule (range, choices, emptiness).
bool acceptable(const Setting& s, const Value& value) {
  const Rule& r = s.rule;
  if (const auto* text = std::get_if<std::string>(&value)) {
    if (!r.choices.empty()) {
      return std::ranges::find(r.choices, *text) != r.choices.end();
    }
    if (r.item_ok != nullptr && !text->empty() && !r.item_ok(*text)) {
      return false;
    }
    return r.allow_empty || !text->empty();
  }
  if (const auto* number = std::get_if<std::uint64_t>(&value)) {
    return *number >= r.min && *number <= r.max;
  }
  if (const auto* items = std::get_if<StringList>(&value)) {
    return items->size() >= r.min_items;
  }
  return true;
}

// A string (or one list item) as error messages and describe() show it:
// quoted, a secret masked (an empty one stays visible: "not set" is what one
// debugs), a connection string's password redacted.
std::string shown(const Rule& r, std::string_view text) {
  if (r.secret && !text.empty()) {
    return quote("***");
  }
  return quote(r.redact_uri ? redact_uri(text) : text);
}

// An environment variable's text as an error message shows it: a list is
// masked item by item.
std::string shown_env(const Setting& s, std::string_view text) {
  if (s.kind != Kind::kStringList || (!s.rule.secret && !s.rule.redact_uri)) {
    return shown(s.rule, text);
  }
  std::vector<std::string> items;
  for (const auto& item : split_list(text)) {
    items.push_back(s.rule.secret && !item.empty() ? "***" : redact_uri(item));
  }
  return quote(fmt::format("{}", fmt::join(items, ",")));
}

[[noreturn]] void reject(const Setting& s, Source source, std::string_view got,
                         std::string_view where) {
  throw ConfigError(
      fmt::format("{}: expected {}, got {} (from {})", s.key, expectation(s, source), got, where));
}

// Item `index` (from 0) of a string_list row obeys the row's item rule.
void check_item(const Setting& s, std::size_t index, std::string_view item,
                std::string_view where) {
  if (item.empty() || (s.rule.item_ok != nullptr && !s.rule.item_ok(item))) {
    throw ConfigError(fmt::format("{}[{}]: expected {}, got {} (from {})", s.key, index,
                                  s.rule.item_expectation, shown(s.rule, item), where));
  }
}

// An environment variable's text as a value of the row's kind.
std::optional<Value> parse_text(const Setting& s, std::string_view text) {
  switch (s.kind) {
    case Kind::kString:
      return Value(std::string(text));
    case Kind::kUint:
      if (auto n = parse_digits(text)) {
        return Value(*n);
      }
      return std::nullopt;
    case Kind::kBoolean:
      for (const std::string_view yes : {"true", "1", "yes"}) {
        if (iequals(text, yes)) {
          return Value(true);
        }
      }
      for (const std::string_view no : {"false", "0", "no"}) {
        if (iequals(text, no)) {
          return Value(false);
        }
      }
      return std::nullopt;
    case Kind::kDurationMs:
      if (auto n = parse_duration_ms(text)) {
        return Value(*n);
      }
      return std::nullopt;
    case Kind::kSize:
      if (auto n = parse_size(text)) {
        return Value(*n);
      }
      return std::nullopt;
    case Kind::kDurationS:
      if (auto n = parse_duration_s(text)) {
        return Value(*n);
      }
      return std::nullopt;
    case Kind::kStringList:
      return Value(split_list(text));
  }
  return std::nullopt;
}

// How a bad TOML value is shown after "got".
std::string render_node(const Rule& rule, const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return shown(rule, node.as_string()->get());
    case toml::node_type::integer:
      return std::to_string(node.as_integer()->get());
    case toml::node_type::floating_point:
      return fmt::format("{}", node.as_floating_point()->get());
    case toml::node_type::boolean:
      return node.as_boolean()->get() ? "true" : "false";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array: {
      const std::size_t n = node.as_array()->size();
      return fmt::format("an array of {} item{}", n, n == 1 ? "" : "s");
    }
    default:
      return "a date/time";
  }
}

std::string location(const std::string& file, const toml::source_region& region) {
  return fmt::format("{}:{}", file, region.begin.line);
}

// A TOML node as a value of the row's kind. Types are strict (a quoted
// "8080" is not a port); durations and sizes also take a string with a unit.
// A bad list item throws at once, naming the item and its line.
std::optional<Value> parse_node(const Setting& s, const toml::node& node, const std::string& file) {
  const auto non_negative = [&]() -> std::optional<Value> {
    if (const auto* n = node.as_integer(); n != nullptr && n->get() >= 0) {
      return Value(static_cast<std::uint64_t>(n->get()));
    }
    return std::nullopt;
  };
  switch (s.kind) {
    case Kind::kString:
      if (const auto* str = node.as_string()) {
        return Value(str->get());
      }
      return std::nullopt;
    case Kind::kUint:
      return non_negative();
    case Kind::kBoolean:
      if (const auto* b = node.as_boolean()) {
        return Value(b->get());
      }
      return std::nullopt;
    case Kind::kDurationMs:
    case Kind::kDurationS:
    case Kind::kSize:
      if (const auto* str = node.as_string()) {
        return parse_text(s, str->get());
      }
      return non_negative();
    case Kind::kStringList: {
      const auto* array = node.as_array();
      if (array == nullptr) {
        return std::nullopt;
      }
      StringList items;
      for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        const auto* str = element.as_string();
        if (str == nullptr) {
          throw ConfigError(fmt::format("{}[{}]: expected a string, got {} (from {})", s.key, i,
                                        render_node(s.rule, element),
                                        location(file, element.source())));
        }
        check_item(s, i, str->get(), location(file, element.source()));
        items.push_back(str->get());
      }
      return Value(std::move(items));
    }
  }
  return std::nullopt;
}

// ===========================================================================
// Sources
// ===========================================================================

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // One row of the classic DP table, updated in place.
  std::vector<std::size_t> dist(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    dist[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = dist[0];
    dist[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = dist[j];
      dist[j] = std::min({dist[j] + 1, dist[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return dist[b.size()];
}

// " (did you mean server.port?)" for a near miss among `candidates`, else "".
std::string suggestion(std::string_view key, const std::vector<std::string_view>& candidates) {
  std::string_view best;
  std::size_t best_distance = 3;  // beyond two edits a guess is noise
  for (const std::string_view candidate : candidates) {
    const std::size_t d = edit_distance(key, candidate);
    if (d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  return best.empty() ? std::string() : fmt::format(" (did you mean {}?)", best);
}

std::vector<std::string_view> setting_keys() {
  std::vector<std::string_view> keys;
  for (const auto& s : settings()) {
    keys.push_back(s.key);
  }
  return keys;
}

// Every table that holds settings: "server", "log" (and "a", "a.b" for a
// key "a.b.c").
std::vector<std::string_view> section_names() {
  std::vector<std::string_view> names;
  for (const auto& s : settings()) {
    for (auto dot = s.key.find('.'); dot != std::string_view::npos;
         dot = s.key.find('.', dot + 1)) {
      const std::string_view name = s.key.substr(0, dot);
      if (std::ranges::find(names, name) == names.end()) {
        names.push_back(name);
      }
    }
  }
  return names;
}

void apply_table(Config& config, const toml::table& table, const std::string& prefix,
                 const std::string& file) {
  for (const auto& [name, node] : table) {
    const std::string key =
        prefix.empty() ? std::string(name.str()) : fmt::format("{}.{}", prefix, name.str());
    if (const Setting* s = find_setting(key)) {
      const auto value = parse_node(*s, node, file);
      if (!value || !acceptable(*s, *value)) {
        reject(*s, Source::kFile, render_node(s->rule, node), location(file, node.source()));
      }
      s->store(config, *value);
    } else if (is_section(key)) {
      const auto* sub = node.as_table();
      if (sub == nullptr) {
        throw ConfigError(fmt::format("{}: expected a table [{}], got {} (from {})", key, key,
                                      render_node(Rule{}, node), location(file, node.source())));
      }
      apply_table(config, *sub, key, file);
    } else if (node.is_table()) {
      throw ConfigError(fmt::format("{}: unknown section{} (from {})", key,
                                    suggestion(key, section_names()),
                                    location(file, name.source())));
    } else {
      throw ConfigError(fmt::format("{}: unknown setting{} (from {})", key,
                                    suggestion(key, setting_keys()),
                                    location(file, name.source())));
    }
  }
}

void apply_file(Config& config, const std::filesystem::path& path) {
  const std::string file = path.string();
  if (file.empty()) {
    throw ConfigError("config file path is empty");
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw ConfigError(fmt::format("{}: cannot read config file: is a directory", file));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(fmt::format("{}: cannot read config file: {}", file,
                                  std::generic_category().message(errno)));
  }
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) {
    throw ConfigError(fmt::format("{}: cannot read config file: read error", file));
  }
  toml::table document;
  try {
    document = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    throw ConfigError(fmt::format("{}:{}:{}: malformed TOML: {}", file, e.source().begin.line,
                                  e.source().begin.column, e.description()));
  }
  apply_table(config, document, "", file);
}

void apply_env(Config& config, const GetenvFn& getenv_fn) {
  for (const auto& s : settings()) {
    const std::string name = env_var_name(s.key);
    const auto text = getenv_fn(name);
    if (!text) {
      continue;
    }
    const auto value = parse_text(s, *text);
    if (!value || !acceptable(s, *value)) {
      reject(s, Source::kEnv, shown_env(s, *text), name);
    }
    if (const auto* items = std::get_if<StringList>(&*value)) {
      for (std::size_t i = 0; i < items->size(); ++i) {
        check_item(s, i, (*items)[i], name);
      }
    }
    s.store(config, *value);
  }
}

}  // namespace

// ===========================================================================
// Public entry points
// ===========================================================================

std::optional<std::string> real_getenv(std::string_view name) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): configuration is read at start, before threads.
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr) {
    return std::nullopt;
  }
  return std::string(value);
}

std::string env_var_name(std::string_view key) {
  std::string name = "SURGE_";
  name.reserve(name.size() + key.size());
  for (const char ch : key) {
    if (ch == '.') {
      name += '_';
    } else if (ch >= 'a' && ch <= 'z') {
      name += static_cast<char>(ch - 'a' + 'A');
    } else {
      name += ch;
    }
  }
  return name;
}

Config load_config(const std::optional<std::filesystem::path>& file, const GetenvFn& getenv_fn) {
  Config config;
  if (file) {
    apply_file(config, *file);
  }
  apply_env(config, getenv_fn);
  // Consumers get a concrete number; hardware_concurrency may report 0 when
  // it cannot tell.
  if (config.server.threads == 0) {
    config.server.threads = std::max(1U, std::thread::hardware_concurrency());
  }
  return config;
}

std::string describe(const Config& config) {
  std::string out;
  std::string_view section;
  for (const auto& s : settings()) {
    const auto dot = s.key.rfind('.');
    const std::string_view this_section = s.key.substr(0, dot);
    if (this_section != section) {
      out += fmt::format("{}[{}]\n", out.empty() ? "" : "\n", this_section);
      section = this_section;
    }
    const Value value = s.read(config);
    std::string rendered;
    if (const auto* text = std::get_if<std::string>(&value)) {
      rendered = shown(s.rule, *text);
    } else if (const auto* items = std::get_if<StringList>(&value)) {
      std::vector<std::string> parts;
      for (const auto& item : *items) {
        parts.push_back(shown(s.rule, item));
      }
      rendered = fmt::format("[{}]", fmt::join(parts, ", "));
    } else if (const auto* number = std::get_if<std::uint64_t>(&value)) {
      rendered = s.rule.secret ? quote("***") : std::to_string(*number);
    } else {
      rendered = std::get<bool>(value) ? "true" : "false";
    }
    out += fmt::format("{} = {}\n", s.key.substr(dot + 1), rendered);
  }
  return out;
}

}  // namespace surge::app
