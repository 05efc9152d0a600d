#include "http/request_id.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <random>

namespace surge::http {

namespace {

std::uint32_t process_tag() {
  static const std::uint32_t tag = [] {
    std::random_device rd;
    return static_cast<std::uint32_t>(rd());
  }();
  return tag;
}

// Each thread takes a disjoint range of 2^40 sequence numbers.
std::uint64_t next_sequence() {
  static std::atomic<std::uint64_t> next_thread{0};
  thread_local std::uint64_t seq = next_thread.fetch_add(1) << 40U;
  return seq++;
}

}  // namespace

bool is_acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) {
    return false;
  }
  return std::ranges::all_of(id, [](char c) { return c >= 0x21 && c <= 0x7e; });
}

void RequestIdMiddleware::before(Context& ctx) {
  assign_request_id(ctx);
}

void assign_request_id(Context& ctx) {
  if (const auto sent = ctx.request.header("X-Request-Id");
      sent && is_acceptable_request_id(*sent)) {
    ctx.request_id = *sent;
    return;
  }
  // "<process tag, 8 hex digits>-<sequence in hex>", written by hand: fmt
  // cost 0.4% of a /healthz request.
  static constexpr std::string_view kHex = "0123456789abcdef";
  char* out = ctx.generated_id.data();
  const std::uint32_t tag = process_tag();
  for (int shift = 28; shift >= 0; shift -= 4) {
    *out++ = kHex[(tag >> static_cast<unsigned>(shift)) & 0xfU];
  }
  *out++ = '-';
  const auto [end, ec] =
      std::to_chars(out, ctx.generated_id.data() + ctx.generated_id.size(), next_sequence(), 16);
  ctx.request_id = std::string_view(ctx.generated_id.data(),
                                    static_cast<std::size_t>(end - ctx.generated_id.data()));
}

}  // namespace surge::http
