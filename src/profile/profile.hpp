#pragma once

// The user center's pure logic (no I/O): the profile record, the level
// formula, the JSON bodies of API.md §2, the cached form of a profile, and
// the validation of PATCH /api/v1/me.
//
// Bodies (field order fixed, so every server renders the same bytes and the
// content-derived ETag agrees everywhere):
//   private (GET/PATCH /api/v1/me):
//     {"id","name","nickname","avatar_url","total_points","level","created_at"}
//   public (GET /api/v1/users/{id}):
//     {"id","name","nickname","avatar_url","level"}
//
// Level: level = 1 + floor(sqrt(total_points / 10)), integer arithmetic
// throughout (total_points / 10 rounds down first):
//   points  0..9 → 1,  10..39 → 2,  40..89 → 3,  90..159 → 4,  160 → 5, ...
// Level n is reached at 10·(n−1)² points: each level costs a little more.
//
// Thread safety: plain functions and values.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace surge::profile {

struct Profile {
  std::uint64_t id = 0;
  std::string name;
  std::string nickname;
  std::string avatar_url;
  std::int64_t total_points = 0;
  std::string created_at;  // RFC 3339 UTC, "2026-11-25T08:00:00Z"
};

// Contract limits of PATCH /api/v1/me.
inline constexpr std::size_t kMaxNicknameCodePoints = 64;
inline constexpr std::size_t kMaxAvatarUrlBytes = 512;

// 1 + floor(sqrt(floor(max(points, 0) / 10))).
std::int64_t level_for(std::int64_t total_points) noexcept;

// floor(sqrt(n)), exact for every uint64.
std::uint64_t isqrt(std::uint64_t n) noexcept;

std::string render_private(const Profile& p);
std::string render_public(const Profile& p);

// ---------------------------------------------------------------------------
// Cached form
//
// One cache entry per user holds both bodies, rendered once at load time, so
// a hit costs no JSON work:
//
//   <fence> '\n' <private body> '\n' <public body>
//
// `fence` is the user's write marker as the loader saw it before reading the
// database (16 lower-case hex digits, or empty when there was none): the L2
// fill is conditional on the marker being unchanged (see store.hpp). Compact
// JSON never contains a raw newline (the serializer escapes control
// characters inside strings), so '\n' separates unambiguously.
// ---------------------------------------------------------------------------
std::string encode_cached(std::string_view fence, const Profile& p);

struct CachedView {
  std::string_view fence;
  std::string_view private_body;
  std::string_view public_body;
};
// nullopt when `value` is not in the form above (a foreign or corrupt entry).
std::optional<CachedView> decode_cached(std::string_view value) noexcept;

// ---------------------------------------------------------------------------
// PATCH validation. Each returns nullopt when valid, else why not (the
// message of a 400 invalid_request naming the field).
//
// nickname: at most 64 Unicode code points of valid UTF-8 (the JSON parser
//   already rejects invalid UTF-8), no control characters (U+0000–U+001F,
//   U+007F–U+009F). Empty is allowed (clears it).
// avatar_url: at most 512 bytes; empty (clears it), or an absolute http(s)
//   URL: scheme "http://" or "https://" (case-insensitive), a non-empty host
//   part, and only printable ASCII without spaces (non-ASCII must arrive
//   percent-encoded).
// ---------------------------------------------------------------------------
std::optional<std::string_view> check_nickname(std::string_view nickname) noexcept;
std::optional<std::string_view> check_avatar_url(std::string_view url) noexcept;

// Number of code points in valid UTF-8 (counts lead bytes).
std::size_t utf8_length(std::string_view s) noexcept;

// Whether valid UTF-8 holds a C0 or C1 control character or DEL (tabs and
// newlines included): what a name shown on one line must not carry.
bool has_control_characters(std::string_view s) noexcept;

// The id of a path segment: canonical decimal (no sign, no leading zero),
// 1 ≤ id ≤ 2^63−1. nullopt otherwise (API.md §1: ids are positive 64-bit;
// an ill-formed id in a path is an unknown resource, 404).
std::optional<std::uint64_t> parse_id(std::string_view text) noexcept;

}  // namespace surge::profile
