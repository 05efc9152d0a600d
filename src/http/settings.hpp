#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace surge::http {

// Limits and timeouts of the HTTP/1.1 server. Plain values: only app/ reads
// configuration and fills this in (STYLE.md practice 3).
struct ServerSettings {
  std::string address = "127.0.0.1";
  unsigned short port = 8080;  // 0 = pick a free port (tests)
  unsigned threads = 0;        // 0 = one per core
  std::size_t max_connections = 10000;
  std::size_t max_header_bytes = std::size_t{16} * 1024;  // request line + headers; beyond -> 431
  std::size_t max_body_bytes = std::size_t{1024} * 1024;  // beyond -> 413
  std::chrono::milliseconds header_timeout{10'000};       // a request's head must arrive within
  std::chrono::milliseconds idle_timeout{60'000};         // keep-alive connection with no request
  std::chrono::milliseconds shutdown_timeout{10'000};  // in-flight work gets this long on SIGTERM
  bool access_log = true;
};

}  // namespace surge::http
