#include "campaigns/http_support.hpp"

#include <string>
#include <utility>

#include "campaigns/stream.hpp"
#include "campaigns/time.hpp"
#include "profile/db_errors.hpp"

namespace surge::campaigns {

std::uint64_t path_id(std::string_view text) {
  const auto v = parse_int(text);
  if (!v || *v <= 0) {
    throw http::Error::not_found("no such campaign");
  }
  return static_cast<std::uint64_t>(*v);
}

std::pair<std::int64_t, std::int64_t> window_of(const http::JsonBody& body) {
  const auto starts = parse_rfc3339_ms(body.required_string("starts_at"));
  if (!starts) {
    throw http::Error::invalid_request("starts_at", "expected an RFC 3339 date-time");
  }
  const auto ends = parse_rfc3339_ms(body.required_string("ends_at"));
  if (!ends) {
    throw http::Error::invalid_request("ends_at", "expected an RFC 3339 date-time");
  }
  if (*ends <= *starts) {
    throw http::Error::invalid_request("ends_at", "must be after starts_at");
  }
  return {*starts, *ends};
}

void throw_if_unavailable(const redis::Error& e) {
  if (e.unavailable()) {
    throw http::Error::unavailable("campaign shard unavailable, retry later",
                                   std::chrono::seconds(1));
  }
}

void throw_if_unavailable(const pg::Error& e) {
  if (auto mapped = profile::unavailable_for(e)) {
    throw http::Error(std::move(*mapped));
  }
}

http::Error error(http::Status status, std::string_view code, std::string_view message) {
  return {status, std::string(code), std::string(message)};
}

}  // namespace surge::campaigns
