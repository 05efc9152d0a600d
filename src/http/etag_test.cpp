#include "http/etag.hpp"

#include <string>
#include <unordered_set>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "http/context.hpp"

namespace surge::http {
namespace {

TEST(MakeEtag, GoldenValues) {
  // XXH3-64 is specified byte for byte: these never change across builds,
  // compilers or architectures. The empty string's XXH3-64 is the reference
  // value published with xxHash.
  EXPECT_EQ(make_etag(""), "\"2d06800538d394c2\"");
  EXPECT_EQ(make_etag(R"({"id":42,"name":"Widget"})"), "\"6b973b78d3e9899a\"");
}

TEST(MakeEtag, StableAndQuoted) {
  const std::string body = R"({"items":[{"product_id":123,"quantity":2}]})";
  const std::string tag = make_etag(body);
  EXPECT_EQ(tag, make_etag(std::string(body)));  // same bytes at another address
  ASSERT_EQ(tag.size(), 18U);
  EXPECT_EQ(tag.front(), '"');
  EXPECT_EQ(tag.back(), '"');
  for (std::size_t i = 1; i + 1 < tag.size(); ++i) {
    EXPECT_TRUE((tag[i] >= '0' && tag[i] <= '9') || (tag[i] >= 'a' && tag[i] <= 'f')) << tag;
  }
}

TEST(MakeEtag, DifferentContentDifferentTag) {
  EXPECT_NE(make_etag(R"({"id":42})"), make_etag(R"({"id":43})"));
  EXPECT_NE(make_etag("a"), make_etag("a "));
  EXPECT_NE(make_etag(""), make_etag(std::string(1, '\0')));
  std::unordered_set<std::string> tags;
  for (int i = 0; i < 1000; ++i) {
    tags.insert(make_etag("{\"n\":" + std::to_string(i) + "}"));
  }
  EXPECT_EQ(tags.size(), 1000U);
}

constexpr std::string_view kTag = "\"0123456789abcdef\"";

TEST(IfNoneMatch, SingleTag) {
  EXPECT_TRUE(if_none_match_matches("\"0123456789abcdef\"", kTag));
  EXPECT_FALSE(if_none_match_matches("\"0123456789abcdee\"", kTag));
  EXPECT_FALSE(if_none_match_matches("0123456789abcdef", kTag));  // unquoted is another tag
  EXPECT_FALSE(if_none_match_matches("", kTag));
}

TEST(IfNoneMatch, List) {
  EXPECT_TRUE(if_none_match_matches("\"a\", \"0123456789abcdef\"", kTag));
  EXPECT_TRUE(if_none_match_matches("\"0123456789abcdef\",\"b\"", kTag));
  EXPECT_TRUE(if_none_match_matches("\"a\",\"b\",\"0123456789abcdef\"", kTag));
  EXPECT_FALSE(if_none_match_matches("\"a\", \"b\"", kTag));
  EXPECT_FALSE(if_none_match_matches(",,", kTag));
}

TEST(IfNoneMatch, Spaces) {
  EXPECT_TRUE(if_none_match_matches("  \"0123456789abcdef\"  ", kTag));
  EXPECT_TRUE(if_none_match_matches("\"a\" ,\t\"0123456789abcdef\"\t", kTag));
  EXPECT_TRUE(if_none_match_matches("\"a\" , \"0123456789abcdef\" , \"b\"", kTag));
}

TEST(IfNoneMatch, WeakComparison) {
  EXPECT_TRUE(if_none_match_matches("W/\"0123456789abcdef\"", kTag));
  EXPECT_TRUE(if_none_match_matches("\"x\", W/\"0123456789abcdef\"", kTag));
  EXPECT_TRUE(if_none_match_matches("\"0123456789abcdef\"", "W/\"0123456789abcdef\""));
  EXPECT_TRUE(if_none_match_matches("W/\"0123456789abcdef\"", "W/\"0123456789abcdef\""));
  EXPECT_FALSE(if_none_match_matches("W/\"0123456789abcdee\"", kTag));
  EXPECT_FALSE(if_none_match_matches("w/\"0123456789abcdef\"", kTag));  // W/ is case-sensitive
}

TEST(IfNoneMatch, Star) {
  EXPECT_TRUE(if_none_match_matches("*", kTag));
  EXPECT_TRUE(if_none_match_matches(" * ", kTag));
  EXPECT_TRUE(if_none_match_matches("\"a\", *", kTag));
  EXPECT_FALSE(if_none_match_matches("\"*\"", kTag));
}

TEST(RespondWithEtag, OkThenNotModified) {
  boost::asio::io_context io;
  const std::string body = R"({"id":42,"name":"Widget"})";
  const std::string tag = make_etag(body);

  Request req;
  Response res;
  {
    Context ctx(req, res, io.get_executor());
    EXPECT_FALSE(respond_with_etag(ctx, body));
  }
  EXPECT_EQ(code(res.status), 200U);
  EXPECT_EQ(res.body, body);
  ASSERT_EQ(res.fields.size(), 1U);
  EXPECT_EQ(res.fields[0].name, "ETag");
  EXPECT_EQ(res.fields[0].value, tag);

  req.headers.push_back({"if-none-match", tag});
  res.clear();
  {
    Context ctx(req, res, io.get_executor());
    EXPECT_TRUE(respond_with_etag(ctx, body));
  }
  EXPECT_EQ(code(res.status), 304U);
  EXPECT_TRUE(res.body.empty());
  ASSERT_EQ(res.fields.size(), 1U);
  EXPECT_EQ(res.fields[0].value, tag);

  req.headers[0].value = "\"stale\"";
  res.clear();
  {
    Context ctx(req, res, io.get_executor());
    EXPECT_FALSE(respond_with_etag(ctx, body));
  }
  EXPECT_EQ(code(res.status), 200U);
  EXPECT_EQ(res.body, body);
}

}  // namespace
}  // namespace surge::http
