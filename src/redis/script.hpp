#pragma once

// Script: a Lua script and its SHA1, computed once at construction.
//
// Shards::eval sends EVALSHA <sha1>; on a NOSCRIPT error (the shard restarted,
// or SCRIPT FLUSH) it sends SCRIPT LOAD and EVALSHA again in one round trip,
// once. Scripts are meant to be built once at start (namespace-scope or
// module members) and shared; copying a Script copies a pointer.
//
// Thread safety: immutable after construction; share freely.

#include <memory>
#include <string>
#include <string_view>

namespace surge::redis {

class Script {
 public:
  explicit Script(std::string source);

  const std::string& source() const noexcept { return data_->source; }
  // 40 lowercase hex digits, as SCRIPT LOAD returns it.
  const std::string& sha1() const noexcept { return data_->sha1; }

 private:
  struct Data {
    std::string source;
    std::string sha1;
  };
  std::shared_ptr<const Data> data_;
};

// SHA1 of `bytes` in lowercase hex (OpenSSL EVP).
std::string sha1_hex(std::string_view bytes);

}  // namespace surge::redis
