#include "redis/reply.hpp"

#include <fmt/format.h>

#include "redis/error.hpp"

namespace surge::redis {

Reply Reply::integer(std::int64_t value) {
  Reply r;
  r.v_ = value;
  return r;
}

Reply Reply::string(std::string value) {
  Reply r;
  r.v_.emplace<std::string>(std::move(value));
  return r;
}

Reply Reply::status(std::string value) {
  Reply r = string(std::move(value));
  r.status_ = true;
  return r;
}

Reply Reply::error(std::string line) {
  Reply r;
  const std::size_t space = line.find(' ');
  const std::size_t prefix = space == std::string::npos ? line.size() : space;
  r.v_.emplace<ErrorLine>(ErrorLine{std::move(line), prefix});
  return r;
}

Reply Reply::array(Array elements) {
  Reply r;
  r.v_.emplace<Array>(std::move(elements));
  return r;
}

Reply::Type Reply::type() const noexcept {
  switch (v_.index()) {
    case 0:
      return Type::kNil;
    case 1:
      return Type::kInteger;
    case 2:
      return status_ ? Type::kStatus : Type::kString;
    case 3:
      return Type::kError;
    default:
      return Type::kArray;
  }
}

void Reply::throw_type_mismatch(Type wanted) const {
  throw_if_error();
  throw ProtocolError(
      fmt::format("expected a reply of type {}, got {}", type_name(wanted), debug_string()));
}

std::int64_t Reply::as_integer() const {
  if (const auto* v = std::get_if<std::int64_t>(&v_)) {
    return *v;
  }
  throw_type_mismatch(Type::kInteger);
}

const std::string& Reply::as_string() const {
  if (const auto* v = std::get_if<std::string>(&v_)) {
    return *v;
  }
  throw_type_mismatch(Type::kString);
}

std::string& Reply::as_string() {
  if (auto* v = std::get_if<std::string>(&v_)) {
    return *v;
  }
  throw_type_mismatch(Type::kString);
}

const Reply::Array& Reply::as_array() const {
  if (const auto* v = std::get_if<Array>(&v_)) {
    return *v;
  }
  throw_type_mismatch(Type::kArray);
}

Reply::Array& Reply::as_array() {
  if (auto* v = std::get_if<Array>(&v_)) {
    return *v;
  }
  throw_type_mismatch(Type::kArray);
}

std::optional<std::string> Reply::as_optional_string() const {
  if (is_nil()) {
    return std::nullopt;
  }
  return as_string();
}

std::string_view Reply::error_prefix() const noexcept {
  if (const auto* e = std::get_if<ErrorLine>(&v_)) {
    return std::string_view(e->line).substr(0, e->prefix_size);
  }
  return {};
}

std::string_view Reply::error_line() const noexcept {
  if (const auto* e = std::get_if<ErrorLine>(&v_)) {
    return e->line;
  }
  return {};
}

void Reply::throw_if_error() const {
  if (const auto* e = std::get_if<ErrorLine>(&v_)) {
    throw ServerError(e->line.substr(0, e->prefix_size), e->line);
  }
}

namespace {

void append_debug(std::string& out, const Reply& r) {
  switch (r.type()) {
    case Reply::Type::kNil:
      out += "nil";
      break;
    case Reply::Type::kInteger:
      out += fmt::format("{}", r.as_integer());
      break;
    case Reply::Type::kString: {
      // Bounded: replies can be megabytes.
      constexpr std::size_t kMax = 64;
      const std::string& s = r.as_string();
      out += fmt::format("\"{}{}\"", s.substr(0, kMax), s.size() > kMax ? "..." : "");
      break;
    }
    case Reply::Type::kStatus:
      out += '+';
      out += r.as_string();
      break;
    case Reply::Type::kError:
      out += '-';
      out += r.error_line();
      break;
    case Reply::Type::kArray: {
      out += '[';
      bool first = true;
      for (const Reply& e : r.as_array()) {
        if (!first) {
          out += ", ";
        }
        first = false;
        append_debug(out, e);
      }
      out += ']';
      break;
    }
  }
}

}  // namespace

std::string Reply::debug_string() const {
  std::string out;
  append_debug(out, *this);
  return out;
}

bool operator==(const Reply& a, const Reply& b) {
  if (a.type() != b.type()) {
    return false;
  }
  switch (a.type()) {
    case Reply::Type::kNil:
      return true;
    case Reply::Type::kInteger:
      return std::get<std::int64_t>(a.v_) == std::get<std::int64_t>(b.v_);
    case Reply::Type::kString:
    case Reply::Type::kStatus:
      return std::get<std::string>(a.v_) == std::get<std::string>(b.v_);
    case Reply::Type::kError:
      return a.error_line() == b.error_line();
    case Reply::Type::kArray:
      return std::get<Reply::Array>(a.v_) == std::get<Reply::Array>(b.v_);
  }
  return false;
}

std::string_view type_name(Reply::Type type) noexcept {
  switch (type) {
    case Reply::Type::kNil:
      return "nil";
    case Reply::Type::kInteger:
      return "integer";
    case Reply::Type::kString:
      return "string";
    case Reply::Type::kStatus:
      return "status";
    case Reply::Type::kError:
      return "error";
    case Reply::Type::kArray:
      return "array";
  }
  return "unknown";
}

}  // namespace surge::redis
