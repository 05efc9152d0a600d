#include "http/parser.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace surge::http {
namespace {

using Result = RequestParser::Result;

constexpr std::size_t kMaxHeader = 1024;
constexpr std::size_t kMaxBody = 64;

// True when `v` lies inside [buf, buf + size): the parser's views must point
// into the caller's buffer (zero copy), never anywhere else.
bool inside(std::string_view v, const char* buf, std::size_t size) {
  const auto begin = reinterpret_cast<std::uintptr_t>(buf);
  const auto p = reinterpret_cast<std::uintptr_t>(v.data());
  return p >= begin && p - begin <= size && v.size() <= size - (p - begin);
}

class ParserTest : public ::testing::Test {
 protected:
  // Feeds `text` in one call and returns the result.
  Result parse_all(std::string_view text) {
    buffer_.assign(text);
    return parser_.parse(buffer_.data(), buffer_.size());
  }

  // Parses `text` completely (asserting so) and builds the request.
  Request parse_ok(std::string_view text) {
    Request req;
    const Result r = parse_all(text);
    EXPECT_EQ(r, Result::kComplete) << parser_.error_message();
    if (r == Result::kComplete) {
      EXPECT_EQ(parser_.message_size(), text.size());
      parser_.build(buffer_.data(), req);
    }
    return req;
  }

  // Parses `text` and expects an error with `status`.
  void expect_error(std::string_view text, Status status) {
    EXPECT_EQ(parse_all(text), Result::kError) << text;
    EXPECT_EQ(code(parser_.error_status()), code(status)) << text;
    EXPECT_FALSE(parser_.error_message().empty()) << text;
  }

  RequestParser parser_{kMaxHeader, kMaxBody};
  std::string buffer_;
};

// ---------------------------------------------------------------------------
// Request line, headers, query
// ---------------------------------------------------------------------------

TEST_F(ParserTest, SimpleGet) {
  const Request req = parse_ok("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_EQ(req.method, Method::kGet);
  EXPECT_EQ(req.method_text, "GET");
  EXPECT_EQ(req.target, "/healthz");
  EXPECT_EQ(req.path, "/healthz");
  EXPECT_EQ(req.query, "");
  EXPECT_EQ(req.version, 11U);
  EXPECT_TRUE(req.keep_alive);
  EXPECT_TRUE(req.body.empty());
  ASSERT_EQ(req.headers.size(), 1U);
  EXPECT_EQ(req.headers[0].name, "Host");
  EXPECT_EQ(req.headers[0].value, "localhost");
  EXPECT_TRUE(parser_.head_complete());
  EXPECT_FALSE(parser_.expects_continue());
  // Zero copy: every view points into the buffer.
  EXPECT_TRUE(inside(req.method_text, buffer_.data(), buffer_.size()));
  EXPECT_TRUE(inside(req.target, buffer_.data(), buffer_.size()));
  EXPECT_TRUE(inside(req.headers[0].value, buffer_.data(), buffer_.size()));
}

TEST_F(ParserTest, MethodsAreRecognised) {
  struct Case {
    const char* text;
    Method method;
  };
  for (const Case& c :
       {Case{"HEAD", Method::kHead}, Case{"POST", Method::kPost}, Case{"PUT", Method::kPut},
        Case{"PATCH", Method::kPatch}, Case{"DELETE", Method::kDelete},
        Case{"OPTIONS", Method::kOptions}, Case{"PROPFIND", Method::kOther}}) {
    parser_.reset();
    const Request req = parse_ok(std::string(c.text) + " / HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(req.method, c.method) << c.text;
    EXPECT_EQ(req.method_text, c.text);
  }
}

TEST_F(ParserTest, HeadersAndCaseInsensitiveLookup) {
  const Request req = parse_ok(
      "GET / HTTP/1.1\r\n"
      "Host: example.com\r\n"
      "User-Agent: wrk/4.1\r\n"
      "X-Custom:   padded value  \r\n"
      "x-dup: first\r\n"
      "X-Dup: second\r\n"
      "Accept:\r\n"
      "\r\n");
  ASSERT_EQ(req.headers.size(), 6U);
  EXPECT_EQ(req.headers[1].name, "User-Agent");
  EXPECT_EQ(req.header("host"), "example.com");
  EXPECT_EQ(req.header("HOST"), "example.com");
  EXPECT_EQ(req.header("user-agent"), "wrk/4.1");
  // Optional whitespace around the value is not part of it.
  EXPECT_EQ(req.header("x-custom"), "padded value");
  // The first of repeated fields.
  EXPECT_EQ(req.header("X-DUP"), "first");
  // Present but empty is not absent.
  ASSERT_TRUE(req.header("accept").has_value());
  EXPECT_EQ(*req.header("accept"), "");
  EXPECT_FALSE(req.header("Content-Length").has_value());
  EXPECT_FALSE(req.header("Hos").has_value());
  for (const auto& h : req.headers) {
    EXPECT_TRUE(inside(h.name, buffer_.data(), buffer_.size()));
    EXPECT_TRUE(inside(h.value, buffer_.data(), buffer_.size()));
  }
}

TEST_F(ParserTest, QuerySplitAndQueryParam) {
  const Request req = parse_ok(
      "GET /api/v1/products?category=3&limit=10&flag&empty=&x=a=b HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(req.target, "/api/v1/products?category=3&limit=10&flag&empty=&x=a=b");
  EXPECT_EQ(req.path, "/api/v1/products");
  EXPECT_EQ(req.query, "category=3&limit=10&flag&empty=&x=a=b");
  EXPECT_EQ(req.query_param("category"), "3");
  EXPECT_EQ(req.query_param("limit"), "10");
  ASSERT_TRUE(req.query_param("flag").has_value());
  EXPECT_EQ(*req.query_param("flag"), "");
  ASSERT_TRUE(req.query_param("empty").has_value());
  EXPECT_EQ(*req.query_param("empty"), "");
  EXPECT_EQ(req.query_param("x"), "a=b");
  EXPECT_FALSE(req.query_param("cat").has_value());
  EXPECT_FALSE(req.query_param("missing").has_value());
  EXPECT_FALSE(req.query_param("").has_value());
}

TEST_F(ParserTest, EmptyQuery) {
  const Request req = parse_ok("GET /p? HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(req.path, "/p");
  EXPECT_EQ(req.query, "");
  EXPECT_FALSE(req.query_param("a").has_value());
}

// ---------------------------------------------------------------------------
// Bodies and incremental input
// ---------------------------------------------------------------------------

constexpr std::string_view kPost =
    "POST /api/v1/cart HTTP/1.1\r\n"
    "Host: x\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 26\r\n"
    "\r\n"
    "{\"product_id\":1,\"qty\":20}\n";

TEST_F(ParserTest, ContentLengthBodyInOnePiece) {
  const Request req = parse_ok(kPost);
  EXPECT_EQ(req.method, Method::kPost);
  EXPECT_EQ(req.body, "{\"product_id\":1,\"qty\":20}\n");
  EXPECT_TRUE(inside(req.body, buffer_.data(), buffer_.size()));
  EXPECT_EQ(req.header("content-type"), "application/json");
}

TEST_F(ParserTest, ZeroContentLength) {
  const Request req = parse_ok("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(req.body.empty());
}

TEST_F(ParserTest, ContentLengthBodyByteByByte) {
  const std::string text(kPost);
  const auto head_size = text.find("\r\n\r\n") + 4;
  for (std::size_t n = 1; n < text.size(); ++n) {
    ASSERT_EQ(parser_.parse(text.data(), n), Result::kNeedMore) << n;
    EXPECT_EQ(parser_.head_complete(), n >= head_size) << n;
  }
  ASSERT_EQ(parser_.parse(text.data(), text.size()), Result::kComplete);
  EXPECT_EQ(parser_.message_size(), text.size());
  Request req;
  parser_.build(text.data(), req);
  EXPECT_EQ(req.body, "{\"product_id\":1,\"qty\":20}\n");
  EXPECT_EQ(req.header("Host"), "x");
  EXPECT_EQ(req.target, "/api/v1/cart");
}

TEST_F(ParserTest, RepeatedCallWithoutNewBytes) {
  const std::string text(kPost);
  ASSERT_EQ(parser_.parse(text.data(), 10), Result::kNeedMore);
  ASSERT_EQ(parser_.parse(text.data(), 10), Result::kNeedMore);
  ASSERT_EQ(parser_.parse(text.data(), text.size() - 1), Result::kNeedMore);
  ASSERT_EQ(parser_.parse(text.data(), text.size() - 1), Result::kNeedMore);
  ASSERT_EQ(parser_.parse(text.data(), text.size()), Result::kComplete);
}

// The connection may grow (reallocate) its buffer in the middle of a message:
// what the parser recorded must survive the move. Every split point is tried,
// and the old buffer is destroyed before the rest arrives.
TEST_F(ParserTest, OffsetsSurviveBufferMove) {
  const std::string text(kPost);
  for (std::size_t split = 1; split < text.size(); ++split) {
    parser_.reset();
    auto first = std::make_unique<std::vector<char>>(text.begin(), text.begin() + split);
    ASSERT_EQ(parser_.parse(first->data(), first->size()), Result::kNeedMore) << split;

    // A larger buffer at a new address with the same bytes, then the rest.
    auto second = std::make_unique<std::vector<char>>();
    second->reserve(text.size() * 4);
    second->assign(first->begin(), first->end());
    first.reset();
    second->insert(second->end(), text.begin() + static_cast<std::ptrdiff_t>(split), text.end());

    ASSERT_EQ(parser_.parse(second->data(), second->size()), Result::kComplete) << split;
    Request req;
    parser_.build(second->data(), req);
    EXPECT_EQ(req.method, Method::kPost) << split;
    EXPECT_EQ(req.target, "/api/v1/cart") << split;
    EXPECT_EQ(req.header("Content-Type"), "application/json") << split;
    EXPECT_EQ(req.body, "{\"product_id\":1,\"qty\":20}\n") << split;
    EXPECT_TRUE(inside(req.body, second->data(), second->size())) << split;
  }
}

constexpr std::string_view kChunked =
    "POST /upload HTTP/1.1\r\n"
    "Host: x\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "5\r\nhello\r\n"
    "1;ext=1\r\n \r\n"
    "A\r\n0123456789\r\n"
    "0\r\n"
    "\r\n";

TEST_F(ParserTest, ChunkedBody) {
  const Request req = parse_ok(kChunked);
  EXPECT_EQ(req.body, "hello 0123456789");
  EXPECT_EQ(req.header("transfer-encoding"), "chunked");
}

TEST_F(ParserTest, ChunkedBodyByteByByte) {
  const std::string text(kChunked);
  for (std::size_t n = 1; n < text.size(); ++n) {
    ASSERT_EQ(parser_.parse(text.data(), n), Result::kNeedMore) << n;
  }
  ASSERT_EQ(parser_.parse(text.data(), text.size()), Result::kComplete);
  EXPECT_EQ(parser_.message_size(), text.size());
  Request req;
  parser_.build(text.data(), req);
  EXPECT_EQ(req.body, "hello 0123456789");
}

TEST_F(ParserTest, ChunkedIsCaseInsensitiveAndTrimmed) {
  const Request req = parse_ok(
      "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:  Chunked \r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  EXPECT_EQ(req.body, "abc");
}

// Surge decodes no transfer coding but chunked: a list (even one ending in
// chunked) is refused rather than framed differently from a proxy.
TEST_F(ParserTest, TransferCodingListIs400) {
  for (const char* te : {"identity, chunked", "chunked, chunked", "gzip, chunked"}) {
    const std::string text = std::string("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ") +
                             te + "\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    RequestParser parser(16 * 1024, 1024 * 1024);
    ASSERT_EQ(parser.parse(text.data(), text.size()), RequestParser::Result::kError) << te;
    EXPECT_EQ(parser.error_status(), Status::kBadRequest) << te;
  }
}

TEST_F(ParserTest, TwoPipelinedRequests) {
  const std::string first(kPost);
  const std::string second = "GET /api/v1/products?page=2 HTTP/1.1\r\nHost: y\r\n\r\n";
  const std::string buf = first + second;

  ASSERT_EQ(parser_.parse(buf.data(), buf.size()), Result::kComplete);
  const std::size_t n = parser_.message_size();
  ASSERT_EQ(n, first.size());
  Request req;
  parser_.build(buf.data(), req);
  EXPECT_EQ(req.method, Method::kPost);
  EXPECT_EQ(req.body, "{\"product_id\":1,\"qty\":20}\n");

  parser_.reset();
  ASSERT_EQ(parser_.parse(buf.data() + n, buf.size() - n), Result::kComplete);
  EXPECT_EQ(parser_.message_size(), second.size());
  parser_.build(buf.data() + n, req);
  EXPECT_EQ(req.method, Method::kGet);
  EXPECT_EQ(req.path, "/api/v1/products");
  EXPECT_EQ(req.query_param("page"), "2");
  ASSERT_EQ(req.headers.size(), 1U);  // build() replaces the previous headers
  EXPECT_EQ(req.header("host"), "y");
  EXPECT_TRUE(req.body.empty());
}

TEST_F(ParserTest, SixteenPipelinedRequests) {
  const std::string one =
      "GET /plaintext HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n";
  std::string buf;
  for (int i = 0; i < 16; ++i) {
    buf += one;
  }
  std::size_t offset = 0;
  Request req;
  for (int i = 0; i < 16; ++i) {
    parser_.reset();
    ASSERT_EQ(parser_.parse(buf.data() + offset, buf.size() - offset), Result::kComplete) << i;
    parser_.build(buf.data() + offset, req);
    EXPECT_EQ(req.path, "/plaintext");
    EXPECT_EQ(req.headers.size(), 2U);
    offset += parser_.message_size();
  }
  EXPECT_EQ(offset, buf.size());
}

TEST_F(ParserTest, PipelinedRequestPartiallyBuffered) {
  const std::string first = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string second = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  std::string buf = first + second.substr(0, 5);
  ASSERT_EQ(parser_.parse(buf.data(), buf.size()), Result::kComplete);
  ASSERT_EQ(parser_.message_size(), first.size());
  parser_.reset();
  const std::size_t n = first.size();
  ASSERT_EQ(parser_.parse(buf.data() + n, buf.size() - n), Result::kNeedMore);
  buf += second.substr(5);
  ASSERT_EQ(parser_.parse(buf.data() + n, buf.size() - n), Result::kComplete);
  Request req;
  parser_.build(buf.data() + n, req);
  EXPECT_EQ(req.path, "/b");
}

// ---------------------------------------------------------------------------
// Connection semantics
// ---------------------------------------------------------------------------

TEST_F(ParserTest, KeepAlive) {
  EXPECT_TRUE(parse_ok("GET / HTTP/1.1\r\nHost: h\r\n\r\n").keep_alive);
  parser_.reset();
  EXPECT_FALSE(parse_ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").keep_alive);
  parser_.reset();
  EXPECT_FALSE(parse_ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n").keep_alive);
  parser_.reset();
  const Request old = parse_ok("GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(old.version, 10U);
  EXPECT_FALSE(old.keep_alive);
  parser_.reset();
  EXPECT_TRUE(parse_ok("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
}

TEST_F(ParserTest, ExpectsContinue) {
  const std::string text =
      "POST /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello";
  const std::size_t head = text.size() - 5;
  ASSERT_EQ(parser_.parse(text.data(), head - 1), Result::kNeedMore);
  EXPECT_FALSE(parser_.expects_continue());  // head not complete yet
  ASSERT_EQ(parser_.parse(text.data(), head), Result::kNeedMore);
  EXPECT_TRUE(parser_.head_complete());
  EXPECT_TRUE(parser_.expects_continue());
  ASSERT_EQ(parser_.parse(text.data(), head + 2), Result::kNeedMore);
  EXPECT_TRUE(parser_.expects_continue());
  ASSERT_EQ(parser_.parse(text.data(), text.size()), Result::kComplete);
  EXPECT_FALSE(parser_.expects_continue());  // the body is here
  Request req;
  parser_.build(text.data(), req);
  EXPECT_EQ(req.body, "hello");

  parser_.reset();
  EXPECT_FALSE(parser_.expects_continue());
  const std::string plain = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
  ASSERT_EQ(parser_.parse(plain.data(), plain.size()), Result::kNeedMore);
  EXPECT_FALSE(parser_.expects_continue());

  parser_.reset();
  const std::string other =
      "POST /x HTTP/1.1\r\nHost: h\r\nExpect: something-else\r\nContent-Length: 5\r\n\r\n";
  ASSERT_EQ(parser_.parse(other.data(), other.size()), Result::kNeedMore);
  EXPECT_FALSE(parser_.expects_continue());
}

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

std::string head_with_padding(std::size_t padding, bool complete) {
  std::string s = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: " + std::string(padding, 'a') + "\r\n";
  if (complete) {
    s += "\r\n";
  }
  return s;
}

TEST_F(ParserTest, HeadJustUnderLimitIsAccepted) {
  const std::string head = head_with_padding(kMaxHeader - 100, true);
  ASSERT_LT(head.size(), kMaxHeader);
  const Request req = parse_ok(head);
  EXPECT_EQ(req.header("x-pad")->size(), kMaxHeader - 100);
}

TEST_F(ParserTest, CompleteHeadOverLimitIs431) {
  expect_error(head_with_padding(kMaxHeader + 10, true), Status::kRequestHeaderFieldsTooLarge);
}

TEST_F(ParserTest, IncompleteHeadOverLimitIs431) {
  expect_error(head_with_padding(kMaxHeader + 10, false), Status::kRequestHeaderFieldsTooLarge);
}

TEST_F(ParserTest, IncompleteHeadGrowingPastLimitIs431) {
  // Fed in small steps, the parser must give up once the buffered head is past
  // the limit, not let the buffer grow without bound.
  const std::string text = head_with_padding(4 * kMaxHeader, false);
  std::size_t n = 0;
  Result r = Result::kNeedMore;
  while (r == Result::kNeedMore && n < text.size()) {
    n = std::min(n + 7, text.size());
    r = parser_.parse(text.data(), n);
  }
  ASSERT_EQ(r, Result::kError);
  EXPECT_EQ(code(parser_.error_status()), 431U);
  EXPECT_LE(n, kMaxHeader + 8);
}

// The limit is on the whole head (settings.hpp: "request line + headers").
// Beast applies header_limit to the request line and then, again from zero, to
// the fields, so a head delivered in one read may be almost twice the limit.
TEST_F(ParserTest, HeadOverLimitSplitBetweenRequestLineAndFieldsIs431) {
  const std::string target = "/" + std::string(kMaxHeader * 3 / 4, 'p');
  const std::string text =
      "GET " + target + " HTTP/1.1\r\nHost: h\r\nX-Pad: " + std::string(kMaxHeader * 3 / 4, 'a') +
      "\r\n\r\n";
  ASSERT_GT(text.size(), kMaxHeader + kMaxHeader / 2);
  expect_error(text, Status::kRequestHeaderFieldsTooLarge);
}

TEST_F(ParserTest, BodyAtLimitIsAccepted) {
  const std::string body(kMaxBody, 'b');
  const Request req =
      parse_ok("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: " + std::to_string(kMaxBody) +
               "\r\n\r\n" + body);
  EXPECT_EQ(req.body, body);
}

TEST_F(ParserTest, ContentLengthOverLimitIs413BeforeTheBodyArrives) {
  expect_error(
      "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: " + std::to_string(kMaxBody + 1) + "\r\n\r\n",
      Status::kPayloadTooLarge);
}

TEST_F(ParserTest, ChunkOverLimitIs413) {
  expect_error("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n",
               Status::kPayloadTooLarge);
}

TEST_F(ParserTest, ChunksAddingUpOverLimitAre413) {
  std::string text = "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) {
    text += "10\r\n" + std::string(16, 'c') + "\r\n";  // 5 * 16 = 80 > 64
  }
  text += "0\r\n\r\n";
  expect_error(text, Status::kPayloadTooLarge);
}

// ---------------------------------------------------------------------------
// Framing attacks and protocol errors
// ---------------------------------------------------------------------------

TEST_F(ParserTest, ContentLengthAndTransferEncodingIs400) {
  expect_error(
      "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\n",
      Status::kBadRequest);
  parser_.reset();
  expect_error(
      "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
      "0\r\n\r\n",
      Status::kBadRequest);
}

TEST_F(ParserTest, TwoDifferentContentLengthsIs400) {
  expect_error(
      "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
      Status::kBadRequest);
  parser_.reset();
  expect_error("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\nhello!",
               Status::kBadRequest);
}

TEST_F(ParserTest, BadContentLengthIs400) {
  expect_error("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", Status::kBadRequest);
  parser_.reset();
  expect_error("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1e3\r\n\r\n", Status::kBadRequest);
}

TEST_F(ParserTest, TransferEncodingNotEndingInChunkedIs400) {
  expect_error("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nabc",
               Status::kBadRequest);
  parser_.reset();
  expect_error("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc",
               Status::kBadRequest);
  parser_.reset();
  expect_error("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\nabc",
               Status::kBadRequest);
}

TEST_F(ParserTest, ChunkedWithHttp10Is400) {
  expect_error("POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
               Status::kBadRequest);
}

TEST_F(ParserTest, MalformedRequestsAre400) {
  for (const char* text :
       {"GARBAGE\r\n\r\n", "GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\n: novalue\r\n\r\n", "GET / FTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\nHost: x\n\n",
        "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}) {
    parser_.reset();
    expect_error(text, Status::kBadRequest);
  }
}

// RFC 9110 §15.6.6: a version the server does not support is 505. Beast's
// parse_start_line already rejects any version outside 1.0–1.1 with
// error::bad_version before calling on_request_impl, so the parser's 505 branch
// never runs and the client gets 400.
TEST_F(ParserTest, Http2RequestLineIs505) {
  expect_error("GET / HTTP/2.0\r\nHost: x\r\n\r\n", Status::kHttpVersionNotSupported);
  parser_.reset();
  expect_error("GET / HTTP/1.2\r\nHost: x\r\n\r\n", Status::kHttpVersionNotSupported);
}

TEST_F(ParserTest, Http2RequestLineIsRejected) {
  // What the parser does today (see the disabled test above): an error.
  EXPECT_EQ(parse_all("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), Result::kError);
}

TEST_F(ParserTest, ResetAfterErrorParsesTheNextMessage) {
  expect_error("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
               Status::kBadRequest);
  parser_.reset();
  EXPECT_TRUE(parser_.error_message().empty());
  const Request req = parse_ok("GET /ok HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(req.path, "/ok");
}

// RFC 9112 §5.2: obs-fold must be rejected (400) or replaced by spaces. Beast
// unfolds such a value into a buffer of its own, which is not in the message:
// the parser must refuse it rather than record a view of foreign memory.
TEST_F(ParserTest, ObsFoldIsRejected) {
  expect_error("GET / HTTP/1.1\r\nHost: h\r\nX-Folded: one\r\n two\r\nHost: x\r\n\r\n",
               Status::kBadRequest);
  parser_.reset();
  expect_error("GET / HTTP/1.1\r\nHost: h\r\nX-Folded: one\r\n\ttwo\r\n  three\r\n\r\n",
               Status::kBadRequest);
}

// RFC 9110 §6.5.1: trailer fields must not be merged into the header section.
// Beast reports trailer fields through on_field_impl like header fields, and
// the parser appends them to Request::headers, so a chunked request can supply
// e.g. Authorization or X-Request-Id after its body.
TEST_F(ParserTest, TrailerFieldsAreNotHeaders) {
  const Request req = parse_ok(
      "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\nAuthorization: Bearer admin\r\n\r\n");
  EXPECT_EQ(req.body, "abc");
  EXPECT_FALSE(req.header("Authorization").has_value());
}

}  // namespace
}  // namespace surge::http
