// Fuzzes JSON request bodies through http::JsonBody: any bytes must give a
// document or an http::Error 400, never a crash; accessors on whatever parsed
// must give a value or an http::Error 400.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/error.hpp"
#include "http/json_body.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const surge::http::JsonBody body(text);
    for (const char* field : {"name", "password", "quantity", "items", "nickname"}) {
      try {
        (void)body.optional_string(field);
      } catch (const surge::http::Error& e) {
        if (e.status() != surge::http::Status::kBadRequest) {
          __builtin_trap();
        }
      }
      try {
        (void)body.optional_int(field);
      } catch (const surge::http::Error& e) {
        if (e.status() != surge::http::Status::kBadRequest) {
          __builtin_trap();
        }
      }
    }
  } catch (const surge::http::Error& e) {
    if (e.status() != surge::http::Status::kBadRequest || e.code() != "invalid_request") {
      __builtin_trap();
    }
  }
  return 0;
}
