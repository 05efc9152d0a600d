#include "http/json_body.hpp"

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "http/error.hpp"

namespace surge::http {
namespace {

// Runs `fn`, which must throw http::Error 400 invalid_request whose message
// names `field` first ("field: why").
void expect_invalid(const std::function<void()>& fn, std::string_view field) {
  try {
    fn();
    ADD_FAILURE() << "no http::Error thrown for " << field;
  } catch (const Error& e) {
    EXPECT_EQ(code(e.status()), 400U) << field;
    EXPECT_EQ(e.code(), "invalid_request") << field;
    const std::string_view message = e.what();
    EXPECT_TRUE(message.starts_with(std::string(field) + ": ")) << message;
  }
}

constexpr std::string_view kDoc = R"({
  "name": "Widget",
  "empty": "",
  "quantity": 3,
  "negative": -7,
  "big": 9223372036854775807,
  "as_double": 5.0,
  "fraction": 5.5,
  "active": true,
  "inactive": false,
  "items": [{"product_id": 123, "quantity": 2}],
  "nothing": null,
  "object": {"a": 1},
  "number_text": "12"
})";

TEST(JsonBody, RequiredString) {
  const JsonBody body(kDoc);
  EXPECT_EQ(body.required_string("name"), "Widget");
  EXPECT_EQ(body.required_string("empty"), "");
  expect_invalid([&] { body.required_string("missing"); }, "missing");
  expect_invalid([&] { body.required_string("nothing"); }, "nothing");
  expect_invalid([&] { body.required_string("quantity"); }, "quantity");
  expect_invalid([&] { body.required_string("object"); }, "object");
}

TEST(JsonBody, OptionalString) {
  const JsonBody body(kDoc);
  EXPECT_EQ(body.optional_string("name"), "Widget");
  EXPECT_FALSE(body.optional_string("missing").has_value());
  EXPECT_FALSE(body.optional_string("nothing").has_value());  // null is absent
  expect_invalid([&] { body.optional_string("active"); }, "active");
  expect_invalid([&] { body.optional_string("items"); }, "items");
}

TEST(JsonBody, RequiredInt) {
  const JsonBody body(kDoc);
  EXPECT_EQ(body.required_int("quantity"), 3);
  EXPECT_EQ(body.required_int("negative"), -7);
  EXPECT_EQ(body.required_int("big"), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(body.required_int("as_double"), 5);
  expect_invalid([&] { body.required_int("fraction"); }, "fraction");
  expect_invalid([&] { body.required_int("number_text"); }, "number_text");
  expect_invalid([&] { body.required_int("active"); }, "active");
  expect_invalid([&] { body.required_int("missing"); }, "missing");
  expect_invalid([&] { body.required_int("nothing"); }, "nothing");
}

TEST(JsonBody, OptionalInt) {
  const JsonBody body(kDoc);
  EXPECT_EQ(body.optional_int("quantity"), 3);
  EXPECT_FALSE(body.optional_int("missing").has_value());
  EXPECT_FALSE(body.optional_int("nothing").has_value());
  EXPECT_EQ(body.optional_int("missing").value_or(1), 1);
  expect_invalid([&] { body.optional_int("name"); }, "name");
  expect_invalid([&] { body.optional_int("fraction"); }, "fraction");
}

TEST(JsonBody, RequiredBool) {
  const JsonBody body(kDoc);
  EXPECT_TRUE(body.required_bool("active"));
  EXPECT_FALSE(body.required_bool("inactive"));
  expect_invalid([&] { body.required_bool("quantity"); }, "quantity");
  expect_invalid([&] { body.required_bool("name"); }, "name");
  expect_invalid([&] { body.required_bool("missing"); }, "missing");
  expect_invalid([&] { body.required_bool("nothing"); }, "nothing");
}

TEST(JsonBody, RequiredArray) {
  const JsonBody body(kDoc);
  const auto& items = body.required_array("items");
  ASSERT_EQ(items.size(), 1U);
  const auto& item = items[0].as_object();
  EXPECT_EQ(as_int(item.at("product_id")), 123);
  EXPECT_EQ(as_int(item.at("quantity")), 2);
  expect_invalid([&] { body.required_array("object"); }, "object");
  expect_invalid([&] { body.required_array("name"); }, "name");
  expect_invalid([&] { body.required_array("missing"); }, "missing");
}

TEST(JsonBody, ObjectAccessor) {
  const JsonBody body(kDoc);
  EXPECT_EQ(body.object().size(), 13U);
  EXPECT_TRUE(body.object().contains("object"));
}

TEST(JsonBody, FromRequestBody) {
  Request req;
  const std::string text =
      R"({"items":[{"product_id":123,"quantity":2},{"product_id":456,"quantity":1}]})";
  req.body = text;
  const JsonBody body(req);
  EXPECT_EQ(body.required_array("items").size(), 2U);
}

TEST(JsonBody, FieldNameInMessageIsTheCallersField) {
  const JsonBody body(R"({"quantity":"x"})");
  try {
    body.required_int("quantity");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "quantity: must be an integer");
  }
}

TEST(JsonBody, LargeBodyBeyondTheArena) {
  // More than the 4 KiB arena: the parse spills over to the heap but works.
  std::string text = R"({"items":[)";
  for (int i = 0; i < 500; ++i) {
    text += (i == 0 ? "" : ",");
    text += R"({"product_id":)" + std::to_string(i) + R"(,"quantity":1})";
  }
  text += "]}";
  const JsonBody body(text);
  EXPECT_EQ(body.required_array("items").size(), 500U);
}

// ---------------------------------------------------------------------------
// Whole-body rejections: the field is "body".
// ---------------------------------------------------------------------------

TEST(JsonBodyRejects, EmptyBody) {
  expect_invalid([] { JsonBody b(std::string_view{}); }, "body");
  Request req;
  expect_invalid([&] { JsonBody b(req); }, "body");
}

TEST(JsonBodyRejects, MalformedJson) {
  for (const char* text :
       {"{", "{\"a\":}", "{\"a\":1,}", "{'a':1}", "{\"a\":1} trailing", "nul", "{\"a\":01}", " "}) {
    expect_invalid([&] { JsonBody b(text); }, "body");
  }
}

TEST(JsonBodyRejects, NonObject) {
  for (const char* text : {"[]", "[{\"a\":1}]", "1", "\"text\"", "null", "true"}) {
    expect_invalid([&] { JsonBody b(text); }, "body");
  }
}

std::string nested(int depth) {
  // An object at the top, then arrays: `depth` containers in all.
  std::string s = "{\"a\":";
  s += std::string(static_cast<std::size_t>(depth - 1), '[');
  s += "1";
  s += std::string(static_cast<std::size_t>(depth - 1), ']');
  s += "}";
  return s;
}

TEST(JsonBodyRejects, DeepNesting) {
  EXPECT_NO_THROW(JsonBody b(nested(32)));
  expect_invalid([] { JsonBody b(nested(33)); }, "body");
  expect_invalid([] { JsonBody b(nested(1000)); }, "body");
  expect_invalid([] { JsonBody b(std::string(100000, '[')); }, "body");
}

// ---------------------------------------------------------------------------
// as_int
// ---------------------------------------------------------------------------

TEST(AsInt, IntegersAndIntegralDoubles) {
  EXPECT_EQ(as_int(boost::json::value(std::int64_t{-3})), -3);
  EXPECT_EQ(as_int(boost::json::value(std::uint64_t{7})), 7);
  EXPECT_EQ(as_int(boost::json::parse("5.0")), 5);
  EXPECT_EQ(as_int(boost::json::parse("-5.0")), -5);
  EXPECT_EQ(as_int(boost::json::parse("5e2")), 500);
  EXPECT_EQ(as_int(boost::json::parse("0.0")), 0);
}

TEST(AsInt, RejectsFractionsAndOutOfRange) {
  EXPECT_FALSE(as_int(boost::json::parse("5.5")).has_value());
  EXPECT_FALSE(as_int(boost::json::parse("-0.1")).has_value());
  EXPECT_FALSE(as_int(boost::json::parse("1e300")).has_value());
  // Largest int64 is fine; one beyond arrives as uint64 and is rejected.
  EXPECT_EQ(as_int(boost::json::parse("9223372036854775807")),
            std::numeric_limits<std::int64_t>::max());
  EXPECT_FALSE(as_int(boost::json::parse("9223372036854775808")).has_value());
  EXPECT_FALSE(as_int(boost::json::parse("18446744073709551615")).has_value());
  EXPECT_FALSE(as_int(boost::json::value(std::numeric_limits<std::uint64_t>::max())).has_value());
}

TEST(AsInt, RejectsOtherTypes) {
  EXPECT_FALSE(as_int(boost::json::parse("\"5\"")).has_value());
  EXPECT_FALSE(as_int(boost::json::parse("true")).has_value());
  EXPECT_FALSE(as_int(boost::json::parse("null")).has_value());
  EXPECT_FALSE(as_int(boost::json::parse("[5]")).has_value());
}

TEST(JsonBody, UintBeyondInt64IsRejectedAsField) {
  const JsonBody body(R"({"id":18446744073709551615})");
  expect_invalid([&] { body.required_int("id"); }, "id");
}

// json_body.hpp promises that the document lives in the arena inside JsonBody
// ("a small body costs no heap allocation"). json::parse() builds it in the
// arena, but `document_ = parse(...)` move-assigns into a value constructed
// with the default storage, and json::value's move assignment keeps the
// target's storage: the whole document is deep-copied onto the heap.
TEST(JsonBody, DocumentLivesInTheArena) {
  const JsonBody body(R"({"name":"Widget","quantity":3})");
  EXPECT_TRUE(body.object().storage().is_deallocate_trivial());
}

}  // namespace
}  // namespace surge::http
