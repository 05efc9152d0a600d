#pragma once

// HTTP/1.1 request parser: Boost.Beast's basic_parser (a proven, fuzzed
// RFC 9112 parser) with zero-copy callbacks. Why Beast and not http_parser or
// a hand-written one: see docs/http.md (bench/micro/parser_benchmark.cpp).
//
// Zero copy: the parser records where the method, target, header fields and a
// Content-Length body lie, as offsets from the message's first byte, and turns
// them into string_views only when the message is complete. The caller MUST
// keep every byte of the message in progress (it may move them, e.g. grow the
// buffer, because offsets survive that) until complete() has been consumed.
// Only a chunked body, whose pieces are not contiguous, is copied.
//
// Not thread-safe; one per connection.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/request.hpp"
#include "http/status.hpp"

namespace surge::http {

class RequestParser {
 public:
  enum class Result : unsigned char { kNeedMore, kComplete, kError };

  RequestParser(std::size_t max_header_bytes, std::size_t max_body_bytes);
  ~RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Parses the message that starts at `message` and of which `available`
  // bytes are buffered (including bytes consumed by earlier calls).
  Result parse(const char* message, std::size_t available);

  // True once the head has been parsed (body may still be pending).
  bool head_complete() const;
  // The head asked for "Expect: 100-continue" and its body is still pending.
  bool expects_continue() const;
  // Bytes of the buffered input that belong to this message (valid after kComplete).
  std::size_t message_size() const { return consumed_; }
  // After kError: the status to answer (400, 413, 431, 505) and why. The
  // connection MUST close after answering: the stream is no longer framed.
  Status error_status() const { return error_status_; }
  std::string_view error_message() const { return error_message_; }

  // After kComplete: fills `out` with views into `message` (and into this
  // parser for a chunked body). `out.headers` keeps its capacity.
  void build(const char* message, Request& out) const;

  // Prepares for the next message on the same connection.
  void reset();

 private:
  struct Span {
    std::uint32_t offset = 0;
    std::uint32_t size = 0;
  };
  struct FieldSpan {
    Span name;
    Span value;
  };
  class Beast;
  friend class Beast;
  struct State;

  void fail(Status status, std::string_view message);
  Span span_of(const char* p, std::size_t n) const;
  bool in_message(const char* p, std::size_t n) const;

  std::size_t max_header_bytes_;
  std::size_t max_body_bytes_;
  std::unique_ptr<State> state_;  // the Beast parser, re-emplaced per message

  // Current message, as offsets from its first byte.
  const char* base_ = nullptr;  // valid only during parse()
  std::size_t available_ = 0;
  std::size_t consumed_ = 0;
  Span method_;
  Span target_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool expect_continue_ = false;
  bool host_seen_ = false;
  bool chunked_ = false;
  bool has_body_span_ = false;
  Span body_;
  std::vector<FieldSpan> fields_;
  std::string chunked_body_;
  Status error_status_ = Status::kBadRequest;
  std::string error_message_;
};

}  // namespace surge::http
