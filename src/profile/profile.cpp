#include "profile/profile.hpp"

#include <charconv>
#include <cmath>
#include <limits>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace surge::profile {

std::uint64_t isqrt(std::uint64_t n) noexcept {
  // A floating-point guess, then corrected: doubles lose precision above 2^53.
  auto r = static_cast<std::uint64_t>(std::sqrt(static_cast<double>(n)));
  while (r > 0 && (r > n / r)) {  // r*r > n, without overflow
    --r;
  }
  while ((r + 1) <= n / (r + 1)) {  // (r+1)^2 <= n
    ++r;
  }
  return r;
}

std::int64_t level_for(std::int64_t total_points) noexcept {
  const std::uint64_t tens = total_points > 0 ? static_cast<std::uint64_t>(total_points) / 10 : 0;
  return 1 + static_cast<std::int64_t>(isqrt(tens));
}

namespace {

boost::json::string_view jv(std::string_view s) {
  return {s.data(), s.size()};
}

}  // namespace

std::string render_private(const Profile& p) {
  boost::json::object o;
  o.reserve(7);
  o.emplace("id", p.id);
  o.emplace("name", jv(p.name));
  o.emplace("nickname", jv(p.nickname));
  o.emplace("avatar_url", jv(p.avatar_url));
  o.emplace("total_points", p.total_points);
  o.emplace("level", level_for(p.total_points));
  o.emplace("created_at", jv(p.created_at));
  return boost::json::serialize(o);
}

std::string render_public(const Profile& p) {
  boost::json::object o;
  o.reserve(5);
  o.emplace("id", p.id);
  o.emplace("name", jv(p.name));
  o.emplace("nickname", jv(p.nickname));
  o.emplace("avatar_url", jv(p.avatar_url));
  o.emplace("level", level_for(p.total_points));
  return boost::json::serialize(o);
}

std::string encode_cached(std::string_view fence, const Profile& p) {
  std::string out;
  const std::string priv = render_private(p);
  const std::string pub = render_public(p);
  out.reserve(fence.size() + priv.size() + pub.size() + 2);
  out.append(fence);
  out.push_back('\n');
  out.append(priv);
  out.push_back('\n');
  out.append(pub);
  return out;
}

std::optional<CachedView> decode_cached(std::string_view value) noexcept {
  const auto first = value.find('\n');
  if (first == std::string_view::npos) {
    return std::nullopt;
  }
  const auto second = value.find('\n', first + 1);
  if (second == std::string_view::npos) {
    return std::nullopt;
  }
  CachedView view{value.substr(0, first), value.substr(first + 1, second - first - 1),
                  value.substr(second + 1)};
  if (view.private_body.empty() || view.public_body.empty() || view.private_body.front() != '{' ||
      view.public_body.front() != '{') {
    return std::nullopt;
  }
  return view;
}

std::size_t utf8_length(std::string_view s) noexcept {
  std::size_t n = 0;
  for (const char c : s) {
    // Continuation bytes are 10xxxxxx.
    if ((static_cast<unsigned char>(c) & 0xC0U) != 0x80U) {
      ++n;
    }
  }
  return n;
}

bool has_control_characters(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x20 || b == 0x7F) {
      return true;
    }
    // U+0080..U+009F (C1 controls) are encoded as C2 80..C2 9F.
    if (b == 0xC2 && i + 1 < s.size()) {
      const auto next = static_cast<unsigned char>(s[i + 1]);
      if (next >= 0x80 && next <= 0x9F) {
        return true;
      }
    }
  }
  return false;
}

std::optional<std::string_view> check_nickname(std::string_view nickname) noexcept {
  if (utf8_length(nickname) > kMaxNicknameCodePoints) {
    return "must be at most 64 characters";
  }
  if (has_control_characters(nickname)) {
    return "must not contain control characters";
  }
  return std::nullopt;
}

namespace {

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
  if (s.size() < prefix.size()) {
    return false;
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    if (c != prefix[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<std::string_view> check_avatar_url(std::string_view url) noexcept {
  if (url.empty()) {
    return std::nullopt;
  }
  if (url.size() > kMaxAvatarUrlBytes) {
    return "must be at most 512 bytes";
  }
  for (const char c : url) {
    const auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b >= 0x7F) {
      return "must be printable ASCII without spaces (percent-encode the rest)";
    }
  }
  std::string_view rest;
  if (istarts_with(url, "https://")) {
    rest = url.substr(8);
  } else if (istarts_with(url, "http://")) {
    rest = url.substr(7);
  } else {
    return "must be an http:// or https:// URL, or empty";
  }
  const auto host_end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, host_end);
  // userinfo@host:port — the host is what follows the last '@'.
  const auto at = authority.rfind('@');
  const std::string_view host_port =
      at == std::string_view::npos ? authority : authority.substr(at + 1);
  if (host_port.empty() || host_port.front() == ':') {
    return "must name a host";
  }
  return std::nullopt;
}

std::optional<std::uint64_t> parse_id(std::string_view text) noexcept {
  if (text.empty() || text.size() > 19 || text.front() == '0') {
    return std::nullopt;
  }
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
  }
  std::uint64_t v = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc{} || r.ptr != text.data() + text.size() ||
      v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return std::nullopt;
  }
  return v;
}

}  // namespace surge::profile
