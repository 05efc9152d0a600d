#include "http/etag.hpp"

#include <cstdint>
#include <xxhash.h>

#include <fmt/format.h>

#include "http/context.hpp"

namespace surge::http {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string_view strip_weak(std::string_view tag) {
  return tag.starts_with("W/") ? tag.substr(2) : tag;
}

}  // namespace

std::string make_etag(std::string_view content) {
  return fmt::format("\"{:016x}\"", XXH3_64bits(content.data(), content.size()));
}

bool if_none_match_matches(std::string_view if_none_match, std::string_view etag) {
  const std::string_view want = strip_weak(etag);
  while (!if_none_match.empty()) {
    const auto comma = if_none_match.find(',');
    const std::string_view candidate = trim(if_none_match.substr(0, comma));
    if (candidate == "*" || strip_weak(candidate) == want) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

bool respond_with_etag(Context& ctx, std::string_view body) {
  std::string tag = make_etag(body);
  const auto inm = ctx.request.header("If-None-Match");
  const bool not_modified = inm && if_none_match_matches(*inm, tag);
  ctx.response.set("ETag", std::move(tag));
  if (not_modified) {
    ctx.response.status = Status::kNotModified;
    ctx.response.body.clear();
    return true;
  }
  ctx.response.json(Status::kOk, body);
  return false;
}

}  // namespace surge::http
