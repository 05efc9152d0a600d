#include "http/status.hpp"

namespace surge::http {

std::string_view status_line(Status s) {
  switch (s) {
    case Status::kOk:
      return "200 OK";
    case Status::kCreated:
      return "201 Created";
    case Status::kAccepted:
      return "202 Accepted";
    case Status::kNoContent:
      return "204 No Content";
    case Status::kNotModified:
      return "304 Not Modified";
    case Status::kBadRequest:
      return "400 Bad Request";
    case Status::kUnauthorized:
      return "401 Unauthorized";
    case Status::kForbidden:
      return "403 Forbidden";
    case Status::kNotFound:
      return "404 Not Found";
    case Status::kMethodNotAllowed:
      return "405 Method Not Allowed";
    case Status::kRequestTimeout:
      return "408 Request Timeout";
    case Status::kConflict:
      return "409 Conflict";
    case Status::kGone:
      return "410 Gone";
    case Status::kLengthRequired:
      return "411 Length Required";
    case Status::kPayloadTooLarge:
      return "413 Payload Too Large";
    case Status::kUriTooLong:
      return "414 URI Too Long";
    case Status::kUnprocessableEntity:
      return "422 Unprocessable Entity";
    case Status::kTooManyRequests:
      return "429 Too Many Requests";
    case Status::kRequestHeaderFieldsTooLarge:
      return "431 Request Header Fields Too Large";
    case Status::kInternalServerError:
      return "500 Internal Server Error";
    case Status::kNotImplemented:
      return "501 Not Implemented";
    case Status::kServiceUnavailable:
      return "503 Service Unavailable";
    case Status::kHttpVersionNotSupported:
      return "505 HTTP Version Not Supported";
  }
  return "500 Internal Server Error";
}

}  // namespace surge::http
