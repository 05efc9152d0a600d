#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>

#include "http/status.hpp"

namespace surge::http {

// The one way a handler reports a client-visible failure. The dispatcher maps
// it to the error body of API.md §1:
//   {"error": {"code": "<snake_case>", "message": "<human text>"}}
// Error policy (STYLE.md practice 12): untrusted input becomes an Error at the
// edge; anything else that escapes a handler is logged and answered 500.
class Error : public std::runtime_error {
 public:
  // std::runtime_error copies the message into its own shared buffer.
  Error(Status status, std::string code, const std::string& message)
      : std::runtime_error(message), status_(status), code_(std::move(code)) {}

  Status status() const { return status_; }
  const std::string& code() const { return code_; }

  // 429 / 503 carry Retry-After (API.md §1: every 503 carries it).
  std::chrono::seconds retry_after() const { return retry_after_; }
  Error& with_retry_after(std::chrono::seconds s) {
    retry_after_ = s;
    return *this;
  }

  static Error invalid_request(std::string_view field, std::string_view why);
  static Error not_found(std::string_view what = "resource not found");
  static Error unauthorized(std::string_view why = "missing or invalid token");
  static Error forbidden(std::string_view why = "not allowed");
  static Error unavailable(std::string_view why, std::chrono::seconds retry_after);

 private:
  Status status_;
  std::string code_;
  std::chrono::seconds retry_after_{0};
};

// Renders the API.md §1 error body.
std::string error_body(std::string_view code, std::string_view message);

}  // namespace surge::http
