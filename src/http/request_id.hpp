#pragma once

#include <optional>
#include <string_view>

#include "http/middleware.hpp"

namespace surge::http {

// X-Request-Id (API.md §1): echoed when the client sends a sane one (1–256
// characters of printable ASCII, blanks only inside), generated otherwise
// (empty, longer, control characters or bytes beyond ASCII, which logs and
// log tools would mangle). Generated ids are unique per
// process run: 8 hex digits of a random process tag, then a per-thread
// sequence, so generating one costs no lock and no system call.
class RequestIdMiddleware final : public Middleware {
 public:
  void before(Context& ctx) override;
};

inline constexpr std::size_t kMaxRequestIdLength = 256;

bool is_acceptable_request_id(std::string_view id);

// The X-Request-Id field of a head the parser refused (431 for a head over
// the limit, 505, a malformed field further down): the received bytes
// scanned line by line up to the blank line or the end, the name matched
// without regard to case. nullopt when absent or not acceptable. Lines
// that are not `name: value` are skipped, so what the parser objected to
// does not hide an id sent before or after it.
std::optional<std::string_view> scan_request_id(std::string_view raw_head);

// Sets ctx.request_id from the request or a new id (what the middleware does;
// also used for responses the parser answers before routing).
void assign_request_id(Context& ctx);

}  // namespace surge::http
