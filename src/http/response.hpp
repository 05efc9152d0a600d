#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "http/status.hpp"

namespace surge::http {

// A response under construction. The connection owns one and clear()s it
// between requests, so the header vector and the body keep their capacity
// (no per-request heap churn on the hot path).
struct Response {
  Status status = Status::kOk;
  std::string_view content_type = "application/json";
  std::string body;
  // Extra headers. Names are static strings; values are owned here.
  struct Field {
    std::string_view name;
    std::string value;
  };
  std::vector<Field> fields;
  bool close = false;  // send Connection: close and close after writing

  void clear() {
    status = Status::kOk;
    content_type = "application/json";
    body.clear();
    fields.clear();
    close = false;
  }

  void set(std::string_view name, std::string value) { fields.push_back({name, std::move(value)}); }

  // A JSON body (already serialized).
  void json(Status s, std::string_view serialized) {
    status = s;
    content_type = "application/json";
    body.assign(serialized);
  }
};

}  // namespace surge::http
