#include "campaigns/stream.hpp"

#include <charconv>

#include "redis/error.hpp"

namespace surge::campaigns {

std::string dead_letter_stream(std::string_view stream) {
  std::string out(stream);
  out += ":dead";
  return out;
}

std::optional<std::int64_t> parse_int(std::string_view text) {
  std::int64_t v = 0;
  const auto* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, v);
  if (text.empty() || r.ec != std::errc{} || r.ptr != end) {
    return std::nullopt;
  }
  return v;
}

std::optional<std::string_view> Entry::get(std::string_view name) const {
  for (const auto& [k, v] : fields) {
    if (k == name) {
      return std::string_view(v);
    }
  }
  return std::nullopt;
}

std::optional<std::int64_t> Entry::get_int(std::string_view name) const {
  const auto v = get(name);
  if (!v) {
    return std::nullopt;
  }
  return parse_int(*v);
}

std::vector<Entry> parse_entries(const redis::Reply& list) {
  std::vector<Entry> out;
  if (list.is_nil()) {
    return out;
  }
  out.reserve(list.as_array().size());
  for (const redis::Reply& item : list.as_array()) {
    if (item.is_nil()) {
      continue;
    }
    const auto& pair = item.as_array();
    if (pair.size() != 2) {
      throw redis::ProtocolError("stream entry: expected [id, fields]");
    }
    Entry e;
    e.id = pair[0].as_string();
    if (!pair[1].is_nil()) {
      const auto& kv = pair[1].as_array();
      e.fields.reserve(kv.size() / 2);
      for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
        e.fields.emplace_back(kv[i].as_string(), kv[i + 1].as_string());
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<Entry> parse_read(const redis::Reply& reply) {
  std::vector<Entry> out;
  if (reply.is_nil()) {
    return out;
  }
  for (const redis::Reply& stream : reply.as_array()) {
    const auto& pair = stream.as_array();
    if (pair.size() != 2) {
      throw redis::ProtocolError("XREADGROUP: expected [stream, entries]");
    }
    auto entries = parse_entries(pair[1]);
    if (out.empty()) {
      out = std::move(entries);  // one stream per read: no copy
      continue;
    }
    for (auto& e : entries) {
      out.push_back(std::move(e));
    }
  }
  return out;
}

std::optional<std::int64_t> id_ms(std::string_view id) {
  return parse_int(id.substr(0, id.find('-')));
}

}  // namespace surge::campaigns
