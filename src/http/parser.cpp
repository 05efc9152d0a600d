#include "http/parser.hpp"

#include <algorithm>
#include <optional>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

namespace surge::http {

namespace beast_http = boost::beast::http;
using boost::beast::error_code;

// ===========================================================================
// Beast callbacks: record offsets, enforce the rules Beast leaves to us.
// ===========================================================================

class RequestParser::Beast final : public beast_http::basic_parser<true> {
 public:
  explicit Beast(RequestParser& owner) : owner_(owner) {}

 private:
  void on_request_impl(beast_http::verb /*method*/, boost::beast::string_view method_str,
                       boost::beast::string_view target, int version, error_code& ec) override {
    owner_.method_ = owner_.span_of(method_str.data(), method_str.size());
    owner_.target_ = owner_.span_of(target.data(), target.size());
    if (version != 10 && version != 11) {
      owner_.fail(Status::kHttpVersionNotSupported, "only HTTP/1.0 and HTTP/1.1 are served");
      ec = beast_http::error::bad_version;
      return;
    }
    owner_.version_ = static_cast<unsigned>(version);
  }

  void on_response_impl(int /*code*/, boost::beast::string_view /*reason*/, int /*version*/,
                        error_code& /*ec*/) override {}

  void on_field_impl(beast_http::field name, boost::beast::string_view name_string,
                     boost::beast::string_view value, error_code& ec) override {
    if (is_header_done()) {
      // A trailer field of a chunked body: RFC 9110 §6.5 forbids merging
      // trailers into the header section, so they are dropped.
      return;
    }
    if (name == beast_http::field::transfer_encoding) {
      // RFC 9112 §6.1/§6.3: a request whose final transfer coding is not
      // "chunked" cannot be framed, and HTTP/1.0 has no transfer codings.
      // Beast frames "chunked, chunked" or "gzip" as having no body, which is
      // how requests get smuggled past a proxy. Surge decodes no other
      // coding, so anything but exactly "chunked" is refused.
      if (owner_.version_ == 10 || !is_exactly_chunked(value)) {
        owner_.fail(Status::kBadRequest, "unsupported Transfer-Encoding");
        ec = beast_http::error::bad_transfer_encoding;
        return;
      }
    } else if (name == beast_http::field::host) {
      // RFC 9112 §3.2: more than one Host is a 400.
      if (owner_.host_seen_) {
        owner_.fail(Status::kBadRequest, "more than one Host header");
        ec = beast_http::error::bad_field;
        return;
      }
      owner_.host_seen_ = true;
    } else if (name == beast_http::field::expect) {
      owner_.expect_continue_ = iequals({value.data(), value.size()}, "100-continue");
    }
    // Beast unfolds obs-fold continuation lines into a buffer of its own; such
    // a value is not in the message. RFC 9112 §5.2 lets a server reject
    // obs-fold with 400, which is also what keeps views zero-copy.
    if (!owner_.in_message(value.data(), value.size()) ||
        !owner_.in_message(name_string.data(), name_string.size())) {
      owner_.fail(Status::kBadRequest, "obsolete line folding is not accepted");
      ec = beast_http::error::bad_value;
      return;
    }
    owner_.fields_.push_back({owner_.span_of(name_string.data(), name_string.size()),
                              owner_.span_of(value.data(), value.size())});
  }

  void on_header_impl(error_code& ec) override {
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400.
    if (owner_.version_ == 11 && !owner_.host_seen_) {
      owner_.fail(Status::kBadRequest, "missing Host header");
      ec = beast_http::error::bad_field;
      return;
    }
    owner_.keep_alive_ = keep_alive();
    owner_.chunked_ = chunked();
  }

  void on_body_init_impl(const boost::optional<std::uint64_t>& /*content_length*/,
                         error_code& /*ec*/) override {}

  std::size_t on_body_impl(boost::beast::string_view body, error_code& /*ec*/) override {
    // Content-Length pieces are adjacent in the caller's buffer: extend one span.
    if (!owner_.has_body_span_) {
      owner_.body_ = owner_.span_of(body.data(), body.size());
      owner_.has_body_span_ = true;
    } else {
      owner_.body_.size += static_cast<std::uint32_t>(body.size());
    }
    return body.size();
  }

  void on_chunk_header_impl(std::uint64_t /*size*/, boost::beast::string_view /*extensions*/,
                            error_code& /*ec*/) override {}

  std::size_t on_chunk_body_impl(std::uint64_t /*remain*/, boost::beast::string_view body,
                                 error_code& /*ec*/) override {
    owner_.chunked_body_.append(body.data(), body.size());
    return body.size();
  }

  void on_finish_impl(error_code& /*ec*/) override {}

  static bool is_exactly_chunked(boost::beast::string_view value) {
    std::string_view v{value.data(), value.size()};
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
      v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
      v.remove_suffix(1);
    }
    return iequals(v, "chunked");
  }

  RequestParser& owner_;
};

struct RequestParser::State {
  std::optional<Beast> beast;
};

// ===========================================================================
// RequestParser
// ===========================================================================

namespace {

// Beast reports any unusable version as bad_version. 505 is only right for a
// well-formed request line naming another version ("GET / HTTP/2.0");
// garbage gets 400.
bool names_other_http_version(const char* message, std::size_t available) {
  const std::string_view text(message, available);
  const auto eol = text.find("\r\n");
  if (eol == std::string_view::npos) {
    return false;
  }
  const std::string_view line = text.substr(0, eol);
  const auto first_space = line.find(' ');
  const auto last_space = line.rfind(' ');
  if (first_space == std::string_view::npos || first_space == last_space) {
    return false;
  }
  const std::string_view version = line.substr(last_space + 1);
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  return version.size() == 8 && version.starts_with("HTTP/") && digit(version[5]) &&
         version[6] == '.' && digit(version[7]) &&
         line.substr(first_space + 1, last_space - first_space - 1).find(' ') ==
             std::string_view::npos;
}

}  // namespace

RequestParser::RequestParser(std::size_t max_header_bytes, std::size_t max_body_bytes)
    : max_header_bytes_(max_header_bytes),
      max_body_bytes_(max_body_bytes),
      state_(std::make_unique<State>()) {
  fields_.reserve(32);
  reset();
}

RequestParser::~RequestParser() = default;

void RequestParser::reset() {
  base_ = nullptr;
  consumed_ = 0;
  method_ = {};
  target_ = {};
  version_ = 11;
  keep_alive_ = true;
  expect_continue_ = false;
  host_seen_ = false;
  chunked_ = false;
  has_body_span_ = false;
  body_ = {};
  fields_.clear();
  chunked_body_.clear();
  error_message_.clear();
  error_status_ = Status::kBadRequest;
  // Beast's parser cannot be reused after a message; constructing one is a
  // handful of member initialisations, no allocation.
  auto& beast = state_->beast.emplace(*this);
  beast.eager(true);
  beast.header_limit(static_cast<std::uint32_t>(max_header_bytes_));
  beast.body_limit(max_body_bytes_);
}

bool RequestParser::in_message(const char* p, std::size_t n) const {
  // Empty views may point anywhere (even nullptr); they carry no bytes.
  return n == 0 || (p >= base_ && p + n <= base_ + available_);
}

RequestParser::Span RequestParser::span_of(const char* p, std::size_t n) const {
  return {static_cast<std::uint32_t>(n == 0 ? 0 : p - base_), static_cast<std::uint32_t>(n)};
}

void RequestParser::fail(Status status, std::string_view message) {
  error_status_ = status;
  error_message_.assign(message);
}

bool RequestParser::head_complete() const {
  return state_->beast->is_header_done();
}

bool RequestParser::expects_continue() const {
  return expect_continue_ && head_complete() && !state_->beast->is_done();
}

RequestParser::Result RequestParser::parse(const char* message, std::size_t available) {
  auto& beast = *state_->beast;
  base_ = message;
  available_ = available;
  while (consumed_ < available) {
    error_code ec;
    std::size_t offered = available - consumed_;
    if (!beast.is_header_done()) {
      // Beast applies its header limit to the request line and to the fields
      // separately; offering at most what is left of the limit makes it one
      // bound for the whole head, as configured.
      if (consumed_ >= max_header_bytes_) {
        fail(Status::kRequestHeaderFieldsTooLarge, "request head exceeds the header limit");
        return Result::kError;
      }
      offered = std::min(offered, max_header_bytes_ - consumed_);
    }
    const std::size_t n = beast.put(boost::asio::const_buffer(message + consumed_, offered), ec);
    consumed_ += n;
    if (ec == beast_http::error::need_more) {
      if (!beast.is_header_done() && consumed_ + (offered - n) >= max_header_bytes_) {
        // Offered everything up to the limit and the head has not ended.
        fail(Status::kRequestHeaderFieldsTooLarge, "request head exceeds the header limit");
        return Result::kError;
      }
      if (n > 0 && consumed_ < available) {
        continue;  // Beast took a piece (start line, some fields); offer the rest
      }
      return Result::kNeedMore;
    }
    if (ec) {
      if (error_message_.empty()) {
        if (ec == beast_http::error::header_limit) {
          fail(Status::kRequestHeaderFieldsTooLarge, "request head exceeds the header limit");
        } else if (ec == beast_http::error::bad_version &&
                   names_other_http_version(message, available)) {
          fail(Status::kHttpVersionNotSupported, "only HTTP/1.0 and HTTP/1.1 are served");
        } else if (ec == beast_http::error::body_limit) {
          fail(Status::kPayloadTooLarge, "request body exceeds the body limit");
        } else {
          fail(Status::kBadRequest, ec.message());
        }
      }
      return Result::kError;
    }
    if (beast.is_done()) {
      return Result::kComplete;
    }
    if (n == 0) {
      return Result::kNeedMore;
    }
  }
  if (beast.is_done()) {
    return Result::kComplete;
  }
  // Beast checks the header limit only when it sees bytes; an incomplete head
  // already longer than the limit must not keep growing our buffer.
  if (!beast.is_header_done() && available >= max_header_bytes_) {
    fail(Status::kRequestHeaderFieldsTooLarge, "request head exceeds the header limit");
    return Result::kError;
  }
  return Result::kNeedMore;
}

void RequestParser::build(const char* message, Request& out) const {
  const auto view = [message](Span s) { return std::string_view(message + s.offset, s.size); };
  out.method_text = view(method_);
  out.method = parse_method(out.method_text);
  out.target = view(target_);
  const auto q = out.target.find('?');
  out.path = out.target.substr(0, q);
  out.query = q == std::string_view::npos ? std::string_view{} : out.target.substr(q + 1);
  out.version = version_;
  out.keep_alive = keep_alive_;
  out.headers.clear();
  for (const auto& f : fields_) {
    out.headers.push_back({view(f.name), view(f.value)});
  }
  if (chunked_) {
    out.body = chunked_body_;
  } else if (has_body_span_) {
    out.body = view(body_);
  } else {
    out.body = {};
  }
}

}  // namespace surge::http
