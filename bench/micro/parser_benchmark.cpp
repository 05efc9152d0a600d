// HTTP/1.1 request parsing: Surge's RequestParser (Beast's basic_parser with
// zero-copy callbacks) against nodejs http_parser 2.9 (callbacks recording
// views, its natural use) and Beast's stock request_parser<empty_body> (which
// copies every field into an allocated basic_fields).
//
// Two inputs: one wrk-like GET of about 300 bytes, and 16 of them pipelined in
// one buffer. Each iteration parses every message of the buffer and produces
// what a handler would see (method, target split in path and query, header
// views); bytes/s and items/s (requests/s) are reported.
//
//   ./surge_benchmarks --benchmark_filter=Parse

#include <cstddef>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#if defined(SURGE_HAVE_HTTP_PARSER)
#include <http_parser.h>
#endif

#include "http/parser.hpp"
#include "http/request.hpp"

namespace surge::http {
namespace {

constexpr std::size_t kPipelined = 16;

// What wrk sends plus what a browser-ish API client adds: about 300 bytes.
const std::string& one_request() {
  static const std::string text =
      "GET /api/v1/products/12345?fields=name,price&currency=EUR HTTP/1.1\r\n"
      "Host: shop.example.com:8080\r\n"
      "User-Agent: Mozilla/5.0 (X11; Linux x86_64) wrk/4.1.0\r\n"
      "Accept: application/json\r\n"
      "Accept-Encoding: gzip, deflate, br\r\n"
      "Accept-Language: en-US,en;q=0.9\r\n"
      "X-Request-Id: 6f1c2a9e-bench-0001\r\n"
      "Connection: keep-alive\r\n"
      "\r\n";
  return text;
}

const std::string& pipelined() {
  static const std::string text = [] {
    std::string s;
    for (std::size_t i = 0; i < kPipelined; ++i) {
      s += one_request();
    }
    return s;
  }();
  return text;
}

void report(benchmark::State& state, const std::string& input, std::size_t messages) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * input.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * messages));
  state.counters["bytes_per_item"] = static_cast<double>(input.size() / messages);
}

// ---------------------------------------------------------------------------
// (a) Surge: parse + build + reset per message.
// ---------------------------------------------------------------------------

void surge_parse(benchmark::State& state, const std::string& input, std::size_t messages) {
  RequestParser parser(16 * 1024, 1024 * 1024);
  Request req;
  req.headers.reserve(32);
  for (auto _ : state) {
    std::size_t offset = 0;
    for (std::size_t i = 0; i < messages; ++i) {
      if (parser.parse(input.data() + offset, input.size() - offset) !=
          RequestParser::Result::kComplete) {
        state.SkipWithError("surge parser did not complete");
        return;
      }
      parser.build(input.data() + offset, req);
      benchmark::DoNotOptimize(req.headers.data());
      benchmark::DoNotOptimize(req.path);
      offset += parser.message_size();
      parser.reset();
    }
    benchmark::ClobberMemory();
  }
  if (req.headers.size() != 7 || req.path != "/api/v1/products/12345") {
    state.SkipWithError("surge parser produced the wrong request");
  }
  report(state, input, messages);
}

void BM_Parse_Surge_Single(benchmark::State& state) {
  surge_parse(state, one_request(), 1);
}
void BM_Parse_Surge_Pipelined16(benchmark::State& state) {
  surge_parse(state, pipelined(), kPipelined);
}
BENCHMARK(BM_Parse_Surge_Single);
BENCHMARK(BM_Parse_Surge_Pipelined16);

// ---------------------------------------------------------------------------
// (b) nodejs http_parser 2.9: callbacks record views into the buffer.
// ---------------------------------------------------------------------------

#if defined(SURGE_HAVE_HTTP_PARSER)

struct NodeRequest {
  Request req;
  std::size_t completed = 0;
  bool in_value = false;
};

int node_on_message_begin(http_parser* p) {
  auto* r = static_cast<NodeRequest*>(p->data);
  r->req.headers.clear();
  r->req.target = {};
  r->req.body = {};
  r->in_value = false;
  return 0;
}

// Data callbacks may deliver a string in several pieces; pieces of one string
// are adjacent in a contiguous buffer, so extending the view is enough.
std::string_view extend(std::string_view v, const char* at, std::size_t n) {
  return v.empty() ? std::string_view(at, n) : std::string_view(v.data(), v.size() + n);
}

int node_on_url(http_parser* p, const char* at, std::size_t n) {
  auto* r = static_cast<NodeRequest*>(p->data);
  r->req.target = extend(r->req.target, at, n);
  return 0;
}

int node_on_header_field(http_parser* p, const char* at, std::size_t n) {
  auto* r = static_cast<NodeRequest*>(p->data);
  if (r->in_value || r->req.headers.empty()) {
    r->req.headers.push_back({std::string_view(at, n), {}});
    r->in_value = false;
  } else {
    r->req.headers.back().name = extend(r->req.headers.back().name, at, n);
  }
  return 0;
}

int node_on_header_value(http_parser* p, const char* at, std::size_t n) {
  auto* r = static_cast<NodeRequest*>(p->data);
  r->in_value = true;
  r->req.headers.back().value = extend(r->req.headers.back().value, at, n);
  return 0;
}

int node_on_headers_complete(http_parser* p) {
  auto* r = static_cast<NodeRequest*>(p->data);
  r->req.method_text = http_method_str(static_cast<http_method>(p->method));
  r->req.method = parse_method(r->req.method_text);
  const auto q = r->req.target.find('?');
  r->req.path = r->req.target.substr(0, q);
  r->req.query = q == std::string_view::npos ? std::string_view{} : r->req.target.substr(q + 1);
  r->req.version = p->http_major * 10U + p->http_minor;
  r->req.keep_alive = http_should_keep_alive(p) != 0;
  return 0;
}

int node_on_body(http_parser* p, const char* at, std::size_t n) {
  auto* r = static_cast<NodeRequest*>(p->data);
  r->req.body = extend(r->req.body, at, n);
  return 0;
}

int node_on_message_complete(http_parser* p) {
  auto* r = static_cast<NodeRequest*>(p->data);
  ++r->completed;
  benchmark::DoNotOptimize(r->req.headers.data());
  benchmark::DoNotOptimize(r->req.path);
  return 0;
}

http_parser_settings node_settings() {
  http_parser_settings s;
  http_parser_settings_init(&s);
  s.on_message_begin = node_on_message_begin;
  s.on_url = node_on_url;
  s.on_header_field = node_on_header_field;
  s.on_header_value = node_on_header_value;
  s.on_headers_complete = node_on_headers_complete;
  s.on_body = node_on_body;
  s.on_message_complete = node_on_message_complete;
  return s;
}

void node_parse(benchmark::State& state, const std::string& input, std::size_t messages) {
  const http_parser_settings settings = node_settings();
  NodeRequest r;
  r.req.headers.reserve(32);
  http_parser parser;
  for (auto _ : state) {
    // One execute call runs every pipelined message (its natural use).
    http_parser_init(&parser, HTTP_REQUEST);
    parser.data = &r;
    r.completed = 0;
    const std::size_t n = http_parser_execute(&parser, &settings, input.data(), input.size());
    if (n != input.size() || parser.http_errno != HPE_OK || r.completed != messages) {
      state.SkipWithError("http_parser failed");
      return;
    }
    benchmark::ClobberMemory();
  }
  if (r.req.headers.size() != 7 || r.req.path != "/api/v1/products/12345") {
    state.SkipWithError("http_parser produced the wrong request");
  }
  report(state, input, messages);
}

void BM_Parse_HttpParser_Single(benchmark::State& state) {
  node_parse(state, one_request(), 1);
}
void BM_Parse_HttpParser_Pipelined16(benchmark::State& state) {
  node_parse(state, pipelined(), kPipelined);
}
BENCHMARK(BM_Parse_HttpParser_Single);
BENCHMARK(BM_Parse_HttpParser_Pipelined16);

#endif  // SURGE_HAVE_HTTP_PARSER

// ---------------------------------------------------------------------------
// (c) Beast's stock request_parser<empty_body>: a fresh parser per message
// (Beast parsers are single-use), fields copied into basic_fields.
// ---------------------------------------------------------------------------

namespace beast_http = boost::beast::http;

void beast_parse(benchmark::State& state, const std::string& input, std::size_t messages) {
  std::optional<beast_http::request_parser<beast_http::empty_body>> parser;
  std::size_t fields = 0;
  for (auto _ : state) {
    std::size_t offset = 0;
    for (std::size_t i = 0; i < messages; ++i) {
      parser.emplace();
      parser->eager(true);
      boost::beast::error_code ec;
      const std::size_t n =
          parser->put(boost::asio::const_buffer(input.data() + offset, input.size() - offset), ec);
      if (ec || !parser->is_done()) {
        state.SkipWithError("beast request_parser failed");
        return;
      }
      const auto& msg = parser->get();
      const auto target = msg.target();
      const auto q = target.find('?');
      benchmark::DoNotOptimize(target.substr(0, q));
      benchmark::DoNotOptimize(&msg);
      offset += n;
    }
    benchmark::ClobberMemory();
  }
  for (const auto& f : parser->get()) {
    (void)f;
    ++fields;
  }
  if (fields != 7) {
    state.SkipWithError("beast request_parser produced the wrong request");
  }
  report(state, input, messages);
}

void BM_Parse_BeastRequestParser_Single(benchmark::State& state) {
  beast_parse(state, one_request(), 1);
}
void BM_Parse_BeastRequestParser_Pipelined16(benchmark::State& state) {
  beast_parse(state, pipelined(), kPipelined);
}
BENCHMARK(BM_Parse_BeastRequestParser_Single);
BENCHMARK(BM_Parse_BeastRequestParser_Pipelined16);

}  // namespace
}  // namespace surge::http
