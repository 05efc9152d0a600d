#include "http/json_body.hpp"

#include <cmath>
#include <string>

#include <boost/json/parse.hpp>

#include "http/error.hpp"

namespace surge::http {

namespace json = boost::json;

JsonBody::JsonBody(const Request& request) : JsonBody(request.body) {}

// arena_buffer_ is left unfilled on purpose (see the header).
JsonBody::JsonBody(std::string_view text) {  // NOLINT(cppcoreguidelines-pro-type-member-init)
  if (text.empty()) {
    throw Error::invalid_request("body", "a JSON object is required");
  }
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 32;  // bodies are flat; deep nesting is abuse
  document_ = json::parse(json::string_view(text.data(), text.size()), ec, &arena_, options);
  if (ec) {
    throw Error::invalid_request("body", "malformed JSON (" + ec.message() + ")");
  }
  object_ = document_.if_object();
  if (object_ == nullptr) {
    throw Error::invalid_request("body", "must be a JSON object");
  }
}

const json::value* JsonBody::find(std::string_view field) const {
  const auto* const it = object_->find(json::string_view(field.data(), field.size()));
  if (it == object_->end() || it->value().is_null()) {
    return nullptr;
  }
  return &it->value();
}

std::optional<std::int64_t> as_int(const json::value& v) {
  if (v.is_int64()) {
    return v.get_int64();
  }
  if (v.is_uint64()) {
    if (v.get_uint64() > static_cast<std::uint64_t>(INT64_MAX)) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    const double d = v.get_double();
    if (std::trunc(d) == d && std::fabs(d) < 9.0e15) {
      return static_cast<std::int64_t>(d);
    }
  }
  return std::nullopt;
}

std::string_view JsonBody::required_string(std::string_view field) const {
  const auto v = optional_string(field);
  if (!v) {
    throw Error::invalid_request(field, "is required");
  }
  return *v;
}

std::int64_t JsonBody::required_int(std::string_view field) const {
  const auto v = optional_int(field);
  if (!v) {
    throw Error::invalid_request(field, "is required");
  }
  return *v;
}

bool JsonBody::required_bool(std::string_view field) const {
  const json::value* v = find(field);
  if (v == nullptr) {
    throw Error::invalid_request(field, "is required");
  }
  if (!v->is_bool()) {
    throw Error::invalid_request(field, "must be a boolean");
  }
  return v->get_bool();
}

const json::array& JsonBody::required_array(std::string_view field) const {
  const json::value* v = find(field);
  if (v == nullptr) {
    throw Error::invalid_request(field, "is required");
  }
  if (!v->is_array()) {
    throw Error::invalid_request(field, "must be an array");
  }
  return v->get_array();
}

std::optional<std::string_view> JsonBody::optional_string(std::string_view field) const {
  const json::value* v = find(field);
  if (v == nullptr) {
    return std::nullopt;
  }
  if (!v->is_string()) {
    throw Error::invalid_request(field, "must be a string");
  }
  const auto& s = v->get_string();
  return std::string_view(s.data(), s.size());
}

std::optional<std::int64_t> JsonBody::optional_int(std::string_view field) const {
  const json::value* v = find(field);
  if (v == nullptr) {
    return std::nullopt;
  }
  const auto n = as_int(*v);
  if (!n) {
    throw Error::invalid_request(field, "must be an integer");
  }
  return n;
}

}  // namespace surge::http
