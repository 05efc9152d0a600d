// JSON libraries on Surge-sized documents: a cart body (~75 bytes) and a user
// profile (~1 KiB), parsed and serialised with
//   - Boost.JSON, default (heap) storage and a monotonic_resource on a stack
//     buffer (the arena JsonBody uses);
//   - nlohmann::json 3.11;
//   - simdjson 3.0 On-Demand (parse only): a reused parser and a pre-padded
//     input, and every value of the document visited, so that it does the
//     same work as a DOM parse (On-Demand parses lazily);
//   - Surge's own JsonBody (Boost.JSON behind the API handlers use).
//
//   ./surge_benchmarks --benchmark_filter=Json

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/serializer.hpp>
#include <boost/json/value.hpp>

#if defined(SURGE_HAVE_NLOHMANN)
#include <nlohmann/json.hpp>
#endif
#if defined(SURGE_HAVE_SIMDJSON)
#include <simdjson.h>
#endif

#include "http/json_body.hpp"

namespace surge::bench {
namespace {

namespace json = boost::json;

constexpr std::string_view kCart =
    R"({"items":[{"product_id":123,"quantity":2},{"product_id":456,"quantity":1}]})";

// A user profile as GET /api/v1/users/me returns it: about 1 KiB.
constexpr std::string_view kProfile = R"({
  "id": 1048576,
  "email": "ada.lovelace@example.com",
  "name": "Ada Lovelace",
  "display_name": "ada",
  "created_at": "2025-03-14T09:26:53Z",
  "updated_at": "2026-11-02T17:45:12Z",
  "verified": true,
  "loyalty_points": 12850,
  "balance_cents": -1999,
  "rating": 4.75,
  "addresses": [
    {"label": "home", "line1": "12 St James's Square", "line2": null, "city": "London",
     "postcode": "SW1Y 4JH", "country": "GB", "default": true},
    {"label": "work", "line1": "Analytical Engine Ltd, 1 Babbage Road", "line2": "Floor 3",
     "city": "Cambridge", "postcode": "CB2 1TN", "country": "GB", "default": false}
  ],
  "preferences": {"newsletter": false, "currency": "GBP", "language": "en-GB",
                  "theme": "dark", "page_size": 50},
  "tags": ["early-adopter", "beta", "mathematics", "poetry", "engines"],
  "recent_orders": [90001, 90017, 90233, 91002, 91877, 92004, 93010, 94555],
  "notes": "Prefers delivery before noon. Ring twice; the \"engine\" room is at the back."
})";

// The C++ side of the profile, for the build + serialise benchmarks.
struct Address {
  std::string label, line1, line2, city, postcode, country;
  bool is_default;
};
struct Profile {
  std::int64_t id;
  std::string email, name, display_name, created_at, updated_at;
  bool verified;
  std::int64_t loyalty_points, balance_cents;
  double rating;
  std::vector<Address> addresses;
  bool newsletter;
  std::string currency, language, theme;
  std::int64_t page_size;
  std::vector<std::string> tags;
  std::vector<std::int64_t> recent_orders;
  std::string notes;
};

const Profile& profile() {
  static const Profile p{
      1048576,
      "ada.lovelace@example.com",
      "Ada Lovelace",
      "ada",
      "2025-03-14T09:26:53Z",
      "2026-11-02T17:45:12Z",
      true,
      12850,
      -1999,
      4.75,
      {{"home", "12 St James's Square", "", "London", "SW1Y 4JH", "GB", true},
       {"work", "Analytical Engine Ltd, 1 Babbage Road", "Floor 3", "Cambridge", "CB2 1TN", "GB",
        false}},
      false,
      "GBP",
      "en-GB",
      "dark",
      50,
      {"early-adopter", "beta", "mathematics", "poetry", "engines"},
      {90001, 90017, 90233, 91002, 91877, 92004, 93010, 94555},
      "Prefers delivery before noon. Ring twice; the \"engine\" room is at the back."};
  return p;
}

void report(benchmark::State& state, std::size_t bytes) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["bytes_per_item"] = static_cast<double>(bytes);
}

// ===========================================================================
// Parse
// ===========================================================================

void boost_parse(benchmark::State& state, std::string_view text) {
  for (auto _ : state) {
    json::value v = json::parse(json::string_view(text.data(), text.size()));
    benchmark::DoNotOptimize(v);
  }
  report(state, text.size());
}

// The arena JsonBody uses: 4 KiB on the stack, the heap only beyond that.
void boost_parse_monotonic(benchmark::State& state, std::string_view text) {
  for (auto _ : state) {
    std::array<unsigned char, 4096> buffer;
    json::monotonic_resource mr(buffer.data(), buffer.size());
    json::value v = json::parse(json::string_view(text.data(), text.size()), &mr);
    benchmark::DoNotOptimize(v);
  }
  report(state, text.size());
}

void surge_json_body(benchmark::State& state, std::string_view text) {
  for (auto _ : state) {
    const http::JsonBody body(text);
    benchmark::DoNotOptimize(&body.object());
  }
  report(state, text.size());
}

#if defined(SURGE_HAVE_NLOHMANN)
void nlohmann_parse(benchmark::State& state, std::string_view text) {
  for (auto _ : state) {
    nlohmann::json v = nlohmann::json::parse(text.begin(), text.end());
    benchmark::DoNotOptimize(v);
  }
  report(state, text.size());
}
#endif

#if defined(SURGE_HAVE_SIMDJSON)
// Visits every value, so the lazy On-Demand API validates and decodes the
// whole document like a DOM parser does.
std::size_t visit(simdjson::ondemand::value v) {
  std::size_t n = 1;
  switch (v.type()) {
    case simdjson::ondemand::json_type::object:
      for (auto field : v.get_object()) {
        const std::string_view key = field.unescaped_key();
        n += key.size() + visit(field.value());
      }
      break;
    case simdjson::ondemand::json_type::array:
      for (auto element : v.get_array()) {
        n += visit(element.value());
      }
      break;
    case simdjson::ondemand::json_type::number: {
      const simdjson::ondemand::number num = v.get_number();
      benchmark::DoNotOptimize(num);
      break;
    }
    case simdjson::ondemand::json_type::string:
      n += std::string_view(v.get_string()).size();
      break;
    case simdjson::ondemand::json_type::boolean:
      n += v.get_bool() ? 1 : 0;
      break;
    case simdjson::ondemand::json_type::null:
      n += v.is_null() ? 1 : 0;
      break;
  }
  return n;
}

void simdjson_parse(benchmark::State& state, std::string_view text) {
  simdjson::ondemand::parser parser;
  const simdjson::padded_string padded(text);
  std::size_t visited = 0;
  for (auto _ : state) {
    simdjson::ondemand::document doc = parser.iterate(padded);
    std::size_t n = 0;
    for (auto field : doc.get_object()) {
      const std::string_view key = field.unescaped_key();
      n += key.size() + visit(field.value());
    }
    visited = n;
    benchmark::DoNotOptimize(visited);
  }
  if (visited == 0) {
    state.SkipWithError("simdjson visited nothing");
  }
  report(state, text.size());
}
#endif

void BM_Json_Parse_Cart_BoostJson(benchmark::State& s) {
  boost_parse(s, kCart);
}
void BM_Json_Parse_Cart_BoostJsonMonotonic(benchmark::State& s) {
  boost_parse_monotonic(s, kCart);
}
void BM_Json_Parse_Cart_SurgeJsonBody(benchmark::State& s) {
  surge_json_body(s, kCart);
}
void BM_Json_Parse_Profile_BoostJson(benchmark::State& s) {
  boost_parse(s, kProfile);
}
void BM_Json_Parse_Profile_BoostJsonMonotonic(benchmark::State& s) {
  boost_parse_monotonic(s, kProfile);
}
void BM_Json_Parse_Profile_SurgeJsonBody(benchmark::State& s) {
  surge_json_body(s, kProfile);
}
BENCHMARK(BM_Json_Parse_Cart_BoostJson);
BENCHMARK(BM_Json_Parse_Cart_BoostJsonMonotonic);
BENCHMARK(BM_Json_Parse_Cart_SurgeJsonBody);
BENCHMARK(BM_Json_Parse_Profile_BoostJson);
BENCHMARK(BM_Json_Parse_Profile_BoostJsonMonotonic);
BENCHMARK(BM_Json_Parse_Profile_SurgeJsonBody);

#if defined(SURGE_HAVE_NLOHMANN)
void BM_Json_Parse_Cart_Nlohmann(benchmark::State& s) {
  nlohmann_parse(s, kCart);
}
void BM_Json_Parse_Profile_Nlohmann(benchmark::State& s) {
  nlohmann_parse(s, kProfile);
}
BENCHMARK(BM_Json_Parse_Cart_Nlohmann);
BENCHMARK(BM_Json_Parse_Profile_Nlohmann);
#endif

#if defined(SURGE_HAVE_SIMDJSON)
void BM_Json_Parse_Cart_SimdjsonOndemand(benchmark::State& s) {
  simdjson_parse(s, kCart);
}
void BM_Json_Parse_Profile_SimdjsonOndemand(benchmark::State& s) {
  simdjson_parse(s, kProfile);
}
BENCHMARK(BM_Json_Parse_Cart_SimdjsonOndemand);
BENCHMARK(BM_Json_Parse_Profile_SimdjsonOndemand);
#endif

// ===========================================================================
// Serialise a profile
// ===========================================================================

// An already-built document to text.
void BM_Json_Serialize_Profile_BoostJson(benchmark::State& state) {
  const json::value v = json::parse(json::string_view(kProfile.data(), kProfile.size()));
  std::size_t size = 0;
  for (auto _ : state) {
    std::string out = json::serialize(v);
    size = out.size();
    benchmark::DoNotOptimize(out);
  }
  report(state, size);
}
BENCHMARK(BM_Json_Serialize_Profile_BoostJson);

// The same, into a reused output string (what a connection's response body is).
void BM_Json_Serialize_Profile_BoostJsonReusedBuffer(benchmark::State& state) {
  const json::value v = json::parse(json::string_view(kProfile.data(), kProfile.size()));
  std::string out;
  out.reserve(4096);
  for (auto _ : state) {
    out.clear();
    json::serializer sr;
    sr.reset(&v);
    std::array<char, 1024> chunk;
    while (!sr.done()) {
      const auto piece = sr.read(chunk.data(), chunk.size());
      out.append(piece.data(), piece.size());
    }
    benchmark::DoNotOptimize(out);
  }
  report(state, out.size());
}
BENCHMARK(BM_Json_Serialize_Profile_BoostJsonReusedBuffer);

// What a handler does: from its C++ data to a document to text.
json::value to_boost(const Profile& p, json::storage_ptr sp) {
  json::object o(sp);
  o.reserve(19);
  o.emplace("id", p.id);
  o.emplace("email", p.email);
  o.emplace("name", p.name);
  o.emplace("display_name", p.display_name);
  o.emplace("created_at", p.created_at);
  o.emplace("updated_at", p.updated_at);
  o.emplace("verified", p.verified);
  o.emplace("loyalty_points", p.loyalty_points);
  o.emplace("balance_cents", p.balance_cents);
  o.emplace("rating", p.rating);
  json::array addresses(sp);
  addresses.reserve(p.addresses.size());
  for (const auto& a : p.addresses) {
    json::object ao(sp);
    ao.reserve(7);
    ao.emplace("label", a.label);
    ao.emplace("line1", a.line1);
    if (a.line2.empty()) {
      ao.emplace("line2", nullptr);
    } else {
      ao.emplace("line2", a.line2);
    }
    ao.emplace("city", a.city);
    ao.emplace("postcode", a.postcode);
    ao.emplace("country", a.country);
    ao.emplace("default", a.is_default);
    addresses.emplace_back(std::move(ao));
  }
  o.emplace("addresses", std::move(addresses));
  json::object prefs(sp);
  prefs.reserve(5);
  prefs.emplace("newsletter", p.newsletter);
  prefs.emplace("currency", p.currency);
  prefs.emplace("language", p.language);
  prefs.emplace("theme", p.theme);
  prefs.emplace("page_size", p.page_size);
  o.emplace("preferences", std::move(prefs));
  json::array tags(sp);
  for (const auto& t : p.tags) {
    tags.emplace_back(t);
  }
  o.emplace("tags", std::move(tags));
  json::array orders(sp);
  for (const auto id : p.recent_orders) {
    orders.emplace_back(id);
  }
  o.emplace("recent_orders", std::move(orders));
  o.emplace("notes", p.notes);
  return json::value(std::move(o));
}

void BM_Json_BuildSerialize_Profile_BoostJson(benchmark::State& state) {
  std::size_t size = 0;
  for (auto _ : state) {
    const json::value v = to_boost(profile(), {});
    std::string out = json::serialize(v);
    size = out.size();
    benchmark::DoNotOptimize(out);
  }
  report(state, size);
}
BENCHMARK(BM_Json_BuildSerialize_Profile_BoostJson);

void BM_Json_BuildSerialize_Profile_BoostJsonMonotonic(benchmark::State& state) {
  std::size_t size = 0;
  for (auto _ : state) {
    std::array<unsigned char, 4096> buffer;
    json::monotonic_resource mr(buffer.data(), buffer.size());
    const json::value v = to_boost(profile(), &mr);
    std::string out = json::serialize(v);
    size = out.size();
    benchmark::DoNotOptimize(out);
  }
  report(state, size);
}
BENCHMARK(BM_Json_BuildSerialize_Profile_BoostJsonMonotonic);

#if defined(SURGE_HAVE_NLOHMANN)
void BM_Json_Serialize_Profile_Nlohmann(benchmark::State& state) {
  const nlohmann::json v = nlohmann::json::parse(kProfile.begin(), kProfile.end());
  std::size_t size = 0;
  for (auto _ : state) {
    std::string out = v.dump();
    size = out.size();
    benchmark::DoNotOptimize(out);
  }
  report(state, size);
}
BENCHMARK(BM_Json_Serialize_Profile_Nlohmann);

nlohmann::json to_nlohmann(const Profile& p) {
  nlohmann::json o = nlohmann::json::object();
  o["id"] = p.id;
  o["email"] = p.email;
  o["name"] = p.name;
  o["display_name"] = p.display_name;
  o["created_at"] = p.created_at;
  o["updated_at"] = p.updated_at;
  o["verified"] = p.verified;
  o["loyalty_points"] = p.loyalty_points;
  o["balance_cents"] = p.balance_cents;
  o["rating"] = p.rating;
  nlohmann::json addresses = nlohmann::json::array();
  for (const auto& a : p.addresses) {
    nlohmann::json ao = nlohmann::json::object();
    ao["label"] = a.label;
    ao["line1"] = a.line1;
    ao["line2"] = a.line2.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.line2);
    ao["city"] = a.city;
    ao["postcode"] = a.postcode;
    ao["country"] = a.country;
    ao["default"] = a.is_default;
    addresses.push_back(std::move(ao));
  }
  o["addresses"] = std::move(addresses);
  o["preferences"] = {{"newsletter", p.newsletter},
                      {"currency", p.currency},
                      {"language", p.language},
                      {"theme", p.theme},
                      {"page_size", p.page_size}};
  o["tags"] = p.tags;
  o["recent_orders"] = p.recent_orders;
  o["notes"] = p.notes;
  return o;
}

void BM_Json_BuildSerialize_Profile_Nlohmann(benchmark::State& state) {
  std::size_t size = 0;
  for (auto _ : state) {
    const nlohmann::json v = to_nlohmann(profile());
    std::string out = v.dump();
    size = out.size();
    benchmark::DoNotOptimize(out);
  }
  report(state, size);
}
BENCHMARK(BM_Json_BuildSerialize_Profile_Nlohmann);
#endif

}  // namespace
}  // namespace surge::bench
