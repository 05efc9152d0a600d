#include "redis/command.hpp"

#include <array>
#include <new>
#include <stdexcept>

#include <hiredis/hiredis.h>

namespace surge::redis {

namespace {

// Most commands have few arguments: encode them from stack arrays.
constexpr std::size_t kInlineArgs = 16;

template <typename Get>
std::pair<char*, std::size_t> format(std::size_t argc, Get get) {
  if (argc == 0) {
    throw std::invalid_argument("redis::Command needs at least one argument");
  }
  std::array<const char*, kInlineArgs> argv_inline{};
  std::array<std::size_t, kInlineArgs> len_inline{};
  std::vector<const char*> argv_heap;
  std::vector<std::size_t> len_heap;
  const char** argv = argv_inline.data();
  std::size_t* lens = len_inline.data();
  if (argc > kInlineArgs) {
    argv_heap.resize(argc);
    len_heap.resize(argc);
    argv = argv_heap.data();
    lens = len_heap.data();
  }
  for (std::size_t i = 0; i < argc; ++i) {
    const std::string_view a = get(i);
    // hiredis reads exactly lens[i] bytes; data() of an empty view may be
    // null, which it never dereferences for length 0.
    argv[i] = a.data();
    lens[i] = a.size();
  }
  char* out = nullptr;
  const int n = redisFormatCommandArgv(&out, static_cast<int>(argc), argv, lens);
  if (n < 0 || out == nullptr) {
    throw std::bad_alloc();
  }
  return {out, static_cast<std::size_t>(n)};
}

}  // namespace

void Command::Free::operator()(char* p) const noexcept {
  redisFreeCommand(p);
}

void Command::encode(std::span<const std::string_view> args) {
  auto [p, n] = format(args.size(), [&](std::size_t i) { return args[i]; });
  data_.reset(p);
  size_ = n;
}

Command::Command(const std::vector<std::string>& args) {
  auto [p, n] = format(args.size(), [&](std::size_t i) { return std::string_view(args[i]); });
  data_.reset(p);
  size_ = n;
}

}  // namespace surge::redis
