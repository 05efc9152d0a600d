#pragma once

// Route table: paths with {parameters}, a handler per method, and the route's
// metadata (who may call it) in one declarative place (STYLE.md practice 17).
//
//   router.add({Method::kGet, "/api/v1/users/{id}", Auth::kNone, get_user});
//
// Lookup: exact paths by hash, parameterised ones by segment comparison.
// A path that matches with another method gives kMethodNotAllowed and the
// allowed set (405 + Allow); no match gives kNotFound.
//
// Thread safety: build the table before the server starts; lookups are
// read-only and may run on every I/O thread at once.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "http/request.hpp"

namespace surge::http {

class Context;

// Who may call a route (API.md §1: public, user token, admin token).
enum class Auth : unsigned char { kNone, kUser, kAdmin };

// Handlers that never wait are plain functions (no coroutine frame on the hot
// path); handlers that talk to databases are coroutines.
using SyncHandler = std::function<void(Context&)>;
using AsyncHandler = std::function<boost::asio::awaitable<void>(Context&)>;
using Handler = std::variant<SyncHandler, AsyncHandler>;

struct RouteSpec {
  Method method;
  std::string pattern;  // "/api/v1/users/{id}"
  Auth auth = Auth::kNone;
  Handler handler;
};

inline constexpr std::size_t kMaxPathParams = 4;

struct PathParams {
  std::array<std::string_view, kMaxPathParams> names{};
  std::array<std::string_view, kMaxPathParams> values{};
  std::size_t size = 0;

  // The value of {name}; empty if the route has no such parameter.
  std::string_view get(std::string_view name) const;
};

// One registered (pattern, method). `index` is dense, for per-route metrics.
struct Route {
  std::size_t index = 0;
  Method method = Method::kGet;
  std::string pattern;
  Auth auth = Auth::kNone;
  Handler handler;
};

class Router {
 public:
  enum class Outcome : unsigned char { kFound, kNotFound, kMethodNotAllowed };
  struct Match {
    Outcome outcome = Outcome::kNotFound;
    const Route* route = nullptr;
    PathParams params;
    // For 405: the methods the path accepts, as an Allow header value.
    std::string_view allow;
  };

  Router();
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;
  Router(Router&& other) noexcept;
  Router& operator=(Router&& other) noexcept;

  // Throws std::invalid_argument for a malformed pattern or a duplicate
  // (method, pattern): both are programming errors found at start.
  const Route& add(RouteSpec spec);

  // HEAD is answered by the GET route when no HEAD route exists.
  Match match(Method method, std::string_view path) const;

  const std::vector<std::unique_ptr<Route>>& routes() const { return routes_; }

 private:
  struct Path;  // one pattern and its routes by method
  Path& path_for(const std::string& pattern);
  Match match_path(const Path& path, Method method, PathParams params) const;

  std::vector<std::unique_ptr<Route>> routes_;
  std::vector<std::unique_ptr<Path>> paths_;
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  // Patterns without parameters; transparent hash: lookups take the request's
  // string_view without building a std::string.
  std::unordered_map<std::string, Path*, StringHash, std::equal_to<>> exact_;
  std::vector<Path*> parameterised_;
};

}  // namespace surge::http
