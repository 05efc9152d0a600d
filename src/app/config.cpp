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
// The settings table: one row per setting. Adding a section (database,
// redis, auth) means adding its struct to Config and its rows here; file
// parsing, environment overrides, validation and describe() follow.
// ===========================================================================

enum class Kind {
  string,
  uint,         // non-negative integer
  boolean,      // file: true/false; env: true/false/1/0/yes/no
  duration_ms,  // milliseconds: 1500, or with a unit: "1500ms", "10s", "5m", "1h"
  size,         // bytes: 16384, or with a unit: "16KiB", "1MiB", "1GiB"
};

// A parsed setting value: strings stay strings, every numeric kind is a
// count of its unit (ms, bytes).
using Value = std::variant<std::string, std::uint64_t, bool>;

struct Rule {
  std::uint64_t min = 0;  // numeric kinds: inclusive range
  std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  std::vector<std::string_view> choices{};  // string kind: allowed values (empty: any)
  bool allow_empty = false;                 // string kind
  bool secret = false;                      // describe() masks it
};

struct Setting {
  std::string_view key;  // "section.name"; also the file path and the env name
  Kind kind;
  Rule rule;
  std::function<void(Config&, const Value&)> store;
  std::function<Value(const Config&)> read;
};

template <class T>
inline constexpr bool is_integer_field = std::is_integral_v<T> && !std::is_same_v<T, bool>;

// Binds a row to a field of Config. `access` is a generic lambda returning a
// reference to the field, so one lambda serves for reading and writing. The
// static_asserts keep kind and field type in step; the range is clamped to
// what the field can hold so a store can never truncate.
template <Kind K, class Access>
Setting row(std::string_view key, Access access, Rule rule = {}) {
  using Field = std::remove_cvref_t<decltype(access(std::declval<Config&>()))>;
  if constexpr (K == Kind::string) {
    static_assert(std::is_same_v<Field, std::string>);
  } else if constexpr (K == Kind::boolean) {
    static_assert(std::is_same_v<Field, bool>);
  } else if constexpr (K == Kind::duration_ms) {
    static_assert(std::is_same_v<Field, std::chrono::milliseconds>);
    rule.max = std::min<std::uint64_t>(rule.max, std::numeric_limits<std::int64_t>::max());
  } else {
    static_assert(is_integer_field<Field>);
    rule.max = std::min<std::uint64_t>(rule.max, std::numeric_limits<Field>::max());
  }
  return Setting{
      .key = key,
      .kind = K,
      .rule = std::move(rule),
      .store =
          [access](Config& config, const Value& value) {
            auto& field = access(config);
            if constexpr (K == Kind::string || K == Kind::boolean) {
              field = std::get<Field>(value);
            } else if constexpr (K == Kind::duration_ms) {
              field = std::chrono::milliseconds(std::get<std::uint64_t>(value));
            } else {
              field = static_cast<Field>(std::get<std::uint64_t>(value));
            }
          },
      .read = [access](const Config& config) -> Value {
        const auto& field = access(config);
        if constexpr (K == Kind::string || K == Kind::boolean) {
          return field;
        } else if constexpr (K == Kind::duration_ms) {
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
constexpr std::uint64_t kHour = 3600 * kSecond;

// Rows of one section stay together: describe() starts a [section] header
// whenever the section changes.
const std::vector<Setting>& settings() {
  static const std::vector<Setting> table = {
      row<Kind::string>(
          "server.address", [](auto& c) -> auto& { return c.server.address; }),
      row<Kind::uint>(
          "server.port", [](auto& c) -> auto& { return c.server.port; }),
      // 0 = one per core; the cap only catches typos (an extra zero or two).
      row<Kind::uint>("server.threads", [](auto& c) -> auto& { return c.server.threads; },
                      {.max = 4096}),
      row<Kind::uint>("server.max_connections",
                      [](auto& c) -> auto& { return c.server.max_connections; },
                      {.min = 1, .max = 10'000'000}),
      // Below a few hundred bytes no real request line plus Host fits.
      row<Kind::size>("server.max_header_bytes",
                      [](auto& c) -> auto& { return c.server.max_header_bytes; },
                      {.min = 256, .max = 16 * kMiB}),
      // 0 is allowed: a server that accepts no bodies at all.
      row<Kind::size>("server.max_body_bytes",
                      [](auto& c) -> auto& { return c.server.max_body_bytes; },
                      {.min = 0, .max = kGiB}),
      row<Kind::duration_ms>("server.header_timeout_ms",
                             [](auto& c) -> auto& { return c.server.header_timeout; },
                             {.min = 1, .max = kHour}),
      row<Kind::duration_ms>("server.idle_timeout_ms",
                             [](auto& c) -> auto& { return c.server.idle_timeout; },
                             {.min = 1, .max = 24 * kHour}),
      // 0 = drop in-flight work at once on SIGTERM.
      row<Kind::duration_ms>("server.shutdown_timeout_ms",
                             [](auto& c) -> auto& { return c.server.shutdown_timeout; },
                             {.min = 0, .max = kHour}),
      row<Kind::boolean>(
          "server.access_log", [](auto& c) -> auto& { return c.server.access_log; }),
      row<Kind::string>("log.level", [](auto& c) -> auto& { return c.log.level; },
                        {.choices = {"trace", "debug", "info", "warn", "error", "off"}}),
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

std::optional<std::uint64_t> parse_size(std::string_view text) {
  return parse_with_unit(text, {{"B", 1}, {"KiB", kKiB}, {"MiB", kMiB}, {"GiB", kGiB}});
}

// ===========================================================================
// Validation
// ===========================================================================

enum class Source { file, env };

std::string expectation(const Setting& s, Source source) {
  const Rule& r = s.rule;
  switch (s.kind) {
    case Kind::string:
      if (!r.choices.empty()) {
        return fmt::format("one of {}", fmt::join(r.choices, ", "));
      }
      return r.allow_empty ? "a string" : "a non-empty string";
    case Kind::uint:
      return fmt::format("an integer {}..{}", r.min, r.max);
    case Kind::boolean:
      return source == Source::env ? "a boolean (true/false/1/0/yes/no)" : "a boolean (true/false)";
    case Kind::duration_ms:
      return fmt::format("a duration {}..{} ms (like 1500, 1500ms, 10s, 5m, 1h)", r.min, r.max);
    case Kind::size:
      return fmt::format("a size {}..{} bytes (like 16384, 16KiB, 1MiB)", r.min, r.max);
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
    return r.allow_empty || !text->empty();
  }
  if (const auto* number = std::get_if<std::uint64_t>(&value)) {
    return *number >= r.min && *number <= r.max;
  }
  return true;
}

[[noreturn]] void reject(const Setting& s, Source source, std::string_view got,
                         std::string_view where) {
  throw ConfigError(
      fmt::format("{}: expected {}, got {} (from {})", s.key, expectation(s, source), got, where));
}

// An environment variable's text as a value of the row's kind.
std::optional<Value> parse_text(const Setting& s, std::string_view text) {
  switch (s.kind) {
    case Kind::string:
      return Value(std::string(text));
    case Kind::uint:
      if (auto n = parse_digits(text)) {
        return Value(*n);
      }
      return std::nullopt;
    case Kind::boolean:
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
    case Kind::duration_ms:
      if (auto n = parse_duration_ms(text)) {
        return Value(*n);
      }
      return std::nullopt;
    case Kind::size:
      if (auto n = parse_size(text)) {
        return Value(*n);
      }
      return std::nullopt;
  }
  return std::nullopt;
}

// A TOML node as a value of the row's kind. Types are strict (a quoted
// "8080" is not a port); durations and sizes also take a string with a unit.
std::optional<Value> parse_node(const Setting& s, const toml::node& node) {
  const auto non_negative = [&]() -> std::optional<Value> {
    if (const auto* n = node.as_integer(); n != nullptr && n->get() >= 0) {
      return Value(static_cast<std::uint64_t>(n->get()));
    }
    return std::nullopt;
  };
  switch (s.kind) {
    case Kind::string:
      if (const auto* str = node.as_string()) {
        return Value(str->get());
      }
      return std::nullopt;
    case Kind::uint:
      return non_negative();
    case Kind::boolean:
      if (const auto* b = node.as_boolean()) {
        return Value(b->get());
      }
      return std::nullopt;
    case Kind::duration_ms:
    case Kind::size:
      if (const auto* str = node.as_string()) {
        return parse_text(s, str->get());
      }
      return non_negative();
  }
  return std::nullopt;
}

// How a bad TOML value is shown after "got".
std::string render_node(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return quote(node.as_string()->get());
    case toml::node_type::integer:
      return std::to_string(node.as_integer()->get());
    case toml::node_type::floating_point:
      return fmt::format("{}", node.as_floating_point()->get());
    case toml::node_type::boolean:
      return node.as_boolean()->get() ? "true" : "false";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    default:
      return "a date/time";
  }
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

std::string location(const std::string& file, const toml::source_region& region) {
  return fmt::format("{}:{}", file, region.begin.line);
}

void apply_table(Config& config, const toml::table& table, const std::string& prefix,
                 const std::string& file) {
  for (const auto& [name, node] : table) {
    const std::string key =
        prefix.empty() ? std::string(name.str()) : fmt::format("{}.{}", prefix, name.str());
    if (const Setting* s = find_setting(key)) {
      const auto value = parse_node(*s, node);
      if (!value || !acceptable(*s, *value)) {
        reject(*s, Source::file, render_node(node), location(file, node.source()));
      }
      s->store(config, *value);
    } else if (is_section(key)) {
      const auto* sub = node.as_table();
      if (sub == nullptr) {
        throw ConfigError(fmt::format("{}: expected a table [{}], got {} (from {})", key, key,
                                      render_node(node), location(file, node.source())));
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
      reject(s, Source::env, quote(*text), name);
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
      // An empty secret stays visible: "not set" is what one debugs.
      rendered = (s.rule.secret && !text->empty()) ? quote("***") : quote(*text);
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
