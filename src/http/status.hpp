#pragma once

#include <string_view>

namespace surge::http {

// The status codes Surge answers with. The reason phrase goes on the wire;
// the numeric value is what clients and metrics see.
enum class Status : unsigned short {
  kOk = 200,
  kCreated = 201,
  kAccepted = 202,
  kNoContent = 204,
  kNotModified = 304,
  kBadRequest = 400,
  kUnauthorized = 401,
  kForbidden = 403,
  kNotFound = 404,
  kMethodNotAllowed = 405,
  kRequestTimeout = 408,
  kConflict = 409,
  kGone = 410,
  kLengthRequired = 411,
  kPayloadTooLarge = 413,
  kUriTooLong = 414,
  kUnprocessableEntity = 422,
  kTooManyRequests = 429,
  kRequestHeaderFieldsTooLarge = 431,
  kInternalServerError = 500,
  kNotImplemented = 501,
  kServiceUnavailable = 503,
  kHttpVersionNotSupported = 505,
};

constexpr unsigned code(Status s) {
  return static_cast<unsigned>(s);
}

// "200 OK" style status line tail, without CRLF.
std::string_view status_line(Status s);

}  // namespace surge::http
