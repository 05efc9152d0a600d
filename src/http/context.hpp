#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>

#include "http/request.hpp"
#include "http/response.hpp"
#include "http/router.hpp"

namespace surge::http {

// Who is calling, once the authentication hook has run.
struct Principal {
  std::uint64_t user_id = 0;  // 0: anonymous
  bool admin = false;
};

// Everything a handler sees of one request. Lives on the connection's
// coroutine frame for the duration of the request; handlers MUST NOT keep
// references to it (or to the request's views) beyond their own completion.
class Context {
 public:
  Context(const Request& request, Response& response, boost::asio::any_io_executor executor)
      : request(request), response(response), executor(std::move(executor)) {}

  const Request& request;
  Response& response;
  // The I/O thread's executor: database and cache clients of this thread.
  boost::asio::any_io_executor executor;
  const Route* route = nullptr;
  PathParams params;
  std::string_view request_id;
  Principal principal;
  std::chrono::steady_clock::time_point started{};

  std::string_view param(std::string_view name) const { return params.get(name); }

  // How many middlewares' before() ran (their after() runs, in reverse).
  std::size_t middlewares_entered = 0;

  // Backing store for a generated request id (request_id points here then).
  std::array<char, 32> generated_id{};
};

}  // namespace surge::http
