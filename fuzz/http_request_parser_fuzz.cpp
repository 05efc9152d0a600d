// Fuzzes the HTTP/1.1 request parser with arbitrary bytes, split into reads
// at fuzzer-chosen points, the way a connection feeds it: every complete
// message is built into a Request (touching every view), pipelined messages
// follow each other, and the parser is reset between them. ASan/UBSan catch
// any out-of-range view or overflow; the invariants below catch logic errors.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "http/parser.hpp"
#include "http/request.hpp"

namespace {

void touch(std::string_view s, std::size_t& sink) {
  for (const char c : s) {
    sink += static_cast<unsigned char>(c);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) {
    return 0;
  }
  // First byte: read size (1..256) of the simulated socket reads.
  const std::size_t chunk = static_cast<std::size_t>(data[0]) + 1;
  const std::string input(reinterpret_cast<const char*>(data + 1), size - 1);

  surge::http::RequestParser parser(1024, 4096);
  surge::http::Request request;
  // The connection's buffer: bytes arrive `chunk` at a time; consumed
  // messages are dropped from the front, and the buffer is reallocated at
  // each read so that stale views would be caught by ASan.
  std::vector<char> buffer;
  std::size_t fed = 0;
  std::size_t begin = 0;
  std::size_t sink = 0;
  while (fed < input.size()) {
    const std::size_t n = std::min(chunk, input.size() - fed);
    std::vector<char> moved(buffer.begin() + static_cast<std::ptrdiff_t>(begin), buffer.end());
    moved.insert(moved.end(), input.begin() + static_cast<std::ptrdiff_t>(fed),
                 input.begin() + static_cast<std::ptrdiff_t>(fed + n));
    buffer.swap(moved);
    begin = 0;
    fed += n;
    while (begin < buffer.size()) {
      const auto result = parser.parse(buffer.data() + begin, buffer.size() - begin);
      if (result == surge::http::RequestParser::Result::kNeedMore) {
        break;
      }
      if (result == surge::http::RequestParser::Result::kError) {
        const auto status = static_cast<unsigned>(parser.error_status());
        if (status < 400 || status > 599) {
          __builtin_trap();
        }
        return 0;  // a connection closes after a parse error
      }
      const std::size_t used = parser.message_size();
      if (used == 0 || used > buffer.size() - begin) {
        __builtin_trap();
      }
      parser.build(buffer.data() + begin, request);
      touch(request.method_text, sink);
      touch(request.target, sink);
      touch(request.path, sink);
      touch(request.query, sink);
      for (const auto& h : request.headers) {
        touch(h.name, sink);
        touch(h.value, sink);
      }
      touch(request.body, sink);
      if (request.body.size() > 4096) {
        __builtin_trap();  // the body limit must hold
      }
      (void)request.header("content-length");
      (void)request.query_param("page");
      begin += used;
      parser.reset();
    }
  }
  return sink == 42 ? 1 : 0;  // keep `sink` alive; libFuzzer ignores the value
}
