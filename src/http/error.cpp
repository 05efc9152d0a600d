#include "http/error.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string_view.hpp>
#include <fmt/format.h>

namespace surge::http {

Error Error::invalid_request(std::string_view field, std::string_view why) {
  return {Status::kBadRequest, "invalid_request", fmt::format("{}: {}", field, why)};
}

Error Error::not_found(std::string_view what) {
  return {Status::kNotFound, "not_found", std::string(what)};
}

Error Error::unauthorized(std::string_view why) {
  return {Status::kUnauthorized, "unauthorized", std::string(why)};
}

Error Error::forbidden(std::string_view why) {
  return {Status::kForbidden, "forbidden", std::string(why)};
}

Error Error::unavailable(std::string_view why, std::chrono::seconds retry_after) {
  Error e{Status::kServiceUnavailable, "unavailable", std::string(why)};
  e.with_retry_after(retry_after);
  return e;
}

std::string error_body(std::string_view code, std::string_view message) {
  // serialize() of a string view quotes and escapes it as JSON.
  return fmt::format(
      R"({{"error":{{"code":{},"message":{}}}}})",
      boost::json::serialize(boost::json::string_view(code.data(), code.size())),
      boost::json::serialize(boost::json::string_view(message.data(), message.size())));
}

}  // namespace surge::http
