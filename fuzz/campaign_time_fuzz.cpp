// Fuzzes the RFC 3339 parser of campaign bodies (starts_at, ends_at: admin
// input): any bytes give nullopt or a time; a parsed time formats back to
// text that parses to the same instant.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "campaigns/time.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = surge::campaigns::parse_rfc3339_ms(text);
  if (parsed) {
    const auto again =
        surge::campaigns::parse_rfc3339_ms(surge::campaigns::format_rfc3339(*parsed));
    // Offsets can move year 0000 / 9999 instants outside the 4-digit range.
    if (again && *again != *parsed) {
      __builtin_trap();
    }
  }
  return 0;
}
