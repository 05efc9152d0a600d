#pragma once

// Command: one Redis command, encoded in RESP when it is constructed (by
// hand: hiredis's redisFormatCommandArgv sprintf's every length, see
// command.cpp). The encoded bytes are
// owned, so a Command can be passed by value into coroutines and queued
// without keeping its arguments alive.
//
//   Command{"SET", key, value}           // strings and integers
//   Command{"INCRBY", key, 5}            // numbers are sent as decimal text
//   Command{"ZADD", key, 2.5, member}    // (doubles in shortest round-trip form)
//   Command(std::vector<std::string>)    // arguments built at run time
//
// Args: an owned argument list (the keys and the args of Shards::eval),
// built the same ways: {key1, key2}, {}, a std::vector<std::string>.
//
// Why variadic constructors and no std::initializer_list: GCC 12 (Debian
// 12's compiler) rejects a braced list's backing array inside an expression
// that contains co_await ("array used as initializer"), so
// `co_await shards.command(s, {"GET", key})` only compiles when the braces
// call a constructor template.
//
// Arguments are binary-safe (any bytes, including NUL). Thread safety: plain
// value types. Construction throws std::bad_alloc and
// std::invalid_argument for an empty Command.

#include <array>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace surge::redis {

namespace detail {

template <typename T>
concept StringArg = std::convertible_to<const T&, std::string_view>;
template <typename T>
concept IntegerArg = std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char>;
template <typename T>
concept CommandArg = StringArg<T> || IntegerArg<T> || std::floating_point<T>;

// Room for any integer and for the shortest round-trip form of any double.
using Digits = std::array<char, 32>;

template <CommandArg T>
std::string_view arg_view(const T& arg, Digits& digits) noexcept {
  if constexpr (StringArg<T>) {
    return std::string_view(
        arg);  // NOLINT(cppcoreguidelines-pro-bounds-array-to-pointer-decay): string literals
  } else {
    const auto result = std::to_chars(digits.data(), digits.data() + digits.size(), arg);
    return {digits.data(), static_cast<std::size_t>(result.ptr - digits.data())};
  }
}

}  // namespace detail

class Command {
 public:
  template <detail::CommandArg... A>
  requires(sizeof...(A) > 0) Command(const A&... args)  // NOLINT(google-explicit-constructor)
  {
    std::array<detail::Digits, sizeof...(A)> digits{};
    std::array<std::string_view, sizeof...(A)> views;
    std::size_t i = 0;
    ((views[i] = detail::arg_view(args, digits[i]), ++i), ...);
    encode(views);
  }
  explicit Command(std::span<const std::string_view> args) { encode(args); }
  Command(const std::vector<std::string>& args);  // NOLINT(google-explicit-constructor)

  // The RESP bytes: "*3\r\n$3\r\nSET\r\n...".
  std::string_view bytes() const noexcept { return data_; }

 private:
  void encode(std::span<const std::string_view> args);

  std::string data_;
};

class Args {
 public:
  Args() = default;
  template <detail::CommandArg... A>
  requires(sizeof...(A) > 0) Args(const A&... args)  // NOLINT(google-explicit-constructor)
  {
    values_.reserve(sizeof...(A));
    detail::Digits digits{};
    ((values_.emplace_back(detail::arg_view(args, digits))), ...);
  }
  Args(std::vector<std::string> values)  // NOLINT(google-explicit-constructor)
      : values_(std::move(values)) {}
  Args(const std::vector<std::string_view>& values)  // NOLINT(google-explicit-constructor)
      : values_(values.begin(), values.end()) {}
  explicit Args(std::span<const std::string_view> values) : values_(values.begin(), values.end()) {}

  const std::vector<std::string>& values() const noexcept { return values_; }
  std::size_t size() const noexcept { return values_.size(); }

 private:
  std::vector<std::string> values_;
};

}  // namespace surge::redis
