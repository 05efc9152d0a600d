#pragma once

// The errors of the Redis access layer: one base class, redis::Error, whose
// kind() says what went wrong, and one subclass per kind so callers can catch
// exactly what they handle:
//
//   Error (std::runtime_error)
//    ├─ ConnectionError   kConnection   connect refused/failed, I/O error, EOF,
//    │                                  client stopped
//    ├─ TimeoutError      kTimeout      no reply within command_timeout (or no
//    │                                  connection within connect_timeout)
//    ├─ CircuitOpenError  kCircuitOpen  the shard's breaker is open: failed fast,
//    │                                  nothing was sent
//    ├─ ServerError       kServer       Redis answered an error reply; prefix()
//    │                                  is its first word ("WRONGTYPE",
//    │                                  "NOSCRIPT", "BUSY", "ERR", ...)
//    └─ ProtocolError     kProtocol     unparsable bytes or a reply of a type
//                                       the caller did not expect
//
// Policy (STYLE.md practice 12): branch on kind() and prefix(), never on
// what(). kConnection, kTimeout and kCircuitOpen mean "the shard is
// unavailable" (degrade: fall back to the database, answer 503); the command
// may or may not have run for kTimeout and for a kConnection that happened
// after the bytes were written. kServer and kProtocol mean the request or the
// code is wrong for this data.

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace surge::redis {

class Error : public std::runtime_error {
 public:
  enum class Kind : unsigned char { kConnection, kTimeout, kCircuitOpen, kServer, kProtocol };
  static constexpr std::size_t kKinds = 5;

  Error(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}

  Kind kind() const noexcept { return kind_; }

  // The server's error prefix for kServer ("WRONGTYPE"); empty otherwise.
  const std::string& server_prefix() const noexcept { return prefix_; }

  // True for the kinds that mean "this shard cannot answer now" (the ones a
  // caller degrades on): kConnection, kTimeout, kCircuitOpen.
  bool unavailable() const noexcept {
    return kind_ == Kind::kConnection || kind_ == Kind::kTimeout || kind_ == Kind::kCircuitOpen;
  }

 protected:
  Error(Kind kind, const std::string& what, std::string prefix)
      : std::runtime_error(what), kind_(kind), prefix_(std::move(prefix)) {}

 private:
  Kind kind_;
  std::string prefix_;
};

// "connection", "timeout", "circuit_open", "server", "protocol" (the `kind`
// label of surge_redis_errors_total).
constexpr std::string_view kind_name(Error::Kind kind) noexcept {
  switch (kind) {
    case Error::Kind::kConnection:
      return "connection";
    case Error::Kind::kTimeout:
      return "timeout";
    case Error::Kind::kCircuitOpen:
      return "circuit_open";
    case Error::Kind::kServer:
      return "server";
    case Error::Kind::kProtocol:
      return "protocol";
  }
  return "unknown";
}

class ConnectionError : public Error {
 public:
  explicit ConnectionError(const std::string& what) : Error(Kind::kConnection, what) {}
};

class TimeoutError : public Error {
 public:
  explicit TimeoutError(const std::string& what) : Error(Kind::kTimeout, what) {}
};

class CircuitOpenError : public Error {
 public:
  explicit CircuitOpenError(const std::string& what) : Error(Kind::kCircuitOpen, what) {}
};

class ProtocolError : public Error {
 public:
  explicit ProtocolError(const std::string& what) : Error(Kind::kProtocol, what) {}
};

// An error reply. what() is the whole line as Redis sent it
// ("WRONGTYPE Operation against a key holding the wrong kind of value");
// prefix() is its first word, the stable part to branch on.
class ServerError : public Error {
 public:
  ServerError(std::string prefix, const std::string& line)
      : Error(Kind::kServer, line, std::move(prefix)) {}
  const std::string& prefix() const noexcept { return server_prefix(); }
};

}  // namespace surge::redis
