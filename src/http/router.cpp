#include "http/router.hpp"

#include <optional>
#include <stdexcept>

#include <fmt/format.h>

namespace surge::http {

namespace {

// Splits "/a/{b}/c" into {"a", "{b}", "c"}. A trailing slash is a segment of
// its own (""), so "/users/" does not match "/users".
std::vector<std::string_view> split_segments(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') {
    return out;
  }
  path.remove_prefix(1);
  while (true) {
    const auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) {
      break;
    }
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool is_param(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}' &&
         segment.substr(1, segment.size() - 2).find_first_of("{}") == std::string_view::npos;
}

}  // namespace

std::string_view PathParams::get(std::string_view name) const {
  for (std::size_t i = 0; i < size; ++i) {
    if (names[i] == name) {
      return values[i];
    }
  }
  return {};
}

struct Router::Path {
  std::string pattern;
  std::vector<std::string> segments;  // owned copies; params keep their braces
  std::array<const Route*, kMethodCount> by_method{};
  std::string allow;
};

Router::Router() = default;
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

Router::Path& Router::path_for(const std::string& pattern) {
  for (auto& p : paths_) {
    if (p->pattern == pattern) {
      return *p;
    }
  }
  auto path = std::make_unique<Path>();
  path->pattern = pattern;
  std::size_t params = 0;
  for (auto seg : split_segments(pattern)) {
    if (seg.find_first_of("{}") != std::string_view::npos && !is_param(seg)) {
      throw std::invalid_argument(
          fmt::format("route pattern {}: malformed segment {}", pattern, seg));
    }
    params += is_param(seg) ? 1 : 0;
    path->segments.emplace_back(seg);
  }
  if (path->segments.empty()) {
    throw std::invalid_argument(fmt::format("route pattern {}: must start with '/'", pattern));
  }
  if (params > kMaxPathParams) {
    throw std::invalid_argument(fmt::format("route pattern {}: too many parameters", pattern));
  }
  Path* raw = path.get();
  paths_.push_back(std::move(path));
  if (params == 0) {
    exact_.emplace(pattern, raw);
  } else {
    parameterised_.push_back(raw);
  }
  return *raw;
}

const Route& Router::add(RouteSpec spec) {
  if (spec.method == Method::kOther) {
    throw std::invalid_argument("route " + spec.pattern + ": unsupported method");
  }
  Path& path = path_for(spec.pattern);
  auto& slot = path.by_method[static_cast<std::size_t>(spec.method)];
  if (slot != nullptr) {
    throw std::invalid_argument(
        fmt::format("route {} {} registered twice", method_name(spec.method), spec.pattern));
  }
  auto route = std::make_unique<Route>();
  route->index = routes_.size();
  route->method = spec.method;
  route->pattern = std::move(spec.pattern);
  route->auth = spec.auth;
  route->handler = std::move(spec.handler);
  slot = route.get();

  // Allow lists what is routable, HEAD included wherever GET is.
  path.allow.clear();
  for (std::size_t m = 0; m < kMethodCount; ++m) {
    const bool has = path.by_method[m] != nullptr ||
                     (static_cast<Method>(m) == Method::kHead &&
                      path.by_method[static_cast<std::size_t>(Method::kGet)] != nullptr);
    if (has) {
      path.allow += path.allow.empty() ? "" : ", ";
      path.allow += method_name(static_cast<Method>(m));
    }
  }
  routes_.push_back(std::move(route));
  return *routes_.back();
}

Router::Match Router::match_path(const Path& path, Method method, PathParams params) const {
  Match m;
  m.params = params;
  const Route* route =
      method == Method::kOther ? nullptr : path.by_method[static_cast<std::size_t>(method)];
  if (route == nullptr && method == Method::kHead) {
    route = path.by_method[static_cast<std::size_t>(Method::kGet)];
  }
  if (route == nullptr) {
    m.outcome = Outcome::kMethodNotAllowed;
    m.allow = path.allow;
    return m;
  }
  m.outcome = Outcome::kFound;
  m.route = route;
  return m;
}

Router::Match Router::match(Method method, std::string_view path) const {
  // Exact paths first: one hash lookup serves /healthz and every fixed route.
  if (const auto it = exact_.find(path); it != exact_.end()) {
    return match_path(*it->second, method, {});
  }

  std::optional<Match> shape_match;
  for (const Path* candidate : parameterised_) {
    PathParams params;
    std::string_view rest = path;
    if (rest.empty() || rest.front() != '/') {
      break;
    }
    rest.remove_prefix(1);
    bool ok = true;
    for (std::size_t i = 0; i < candidate->segments.size(); ++i) {
      if (i > 0) {
        // Between segments there must be a '/' left in the path.
        if (rest.empty() || rest.front() != '/') {
          ok = false;
          break;
        }
        rest.remove_prefix(1);
      }
      const auto slash = rest.find('/');
      const std::string_view seg = rest.substr(0, slash);
      const std::string& want = candidate->segments[i];
      if (is_param(want)) {
        if (seg.empty()) {
          ok = false;
          break;
        }
        params.names[params.size] = std::string_view(want).substr(1, want.size() - 2);
        params.values[params.size] = seg;
        ++params.size;
      } else if (seg != want) {
        ok = false;
        break;
      }
      rest.remove_prefix(seg.size());
    }
    if (ok && rest.empty()) {
      Match m = match_path(*candidate, method, params);
      if (m.outcome == Outcome::kFound) {
        return m;
      }
      // Another pattern of the same shape may serve this method; remember
      // the first 405 in case none does.
      if (!shape_match) {
        shape_match = m;
      }
    }
  }
  return shape_match.value_or(Match{});
}

}  // namespace surge::http
