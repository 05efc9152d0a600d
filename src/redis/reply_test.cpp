#include "redis/reply.hpp"

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include "redis/command.hpp"
#include "redis/connection.hpp"
#include "redis/error.hpp"
#include "redis/reply_reader.hpp"
#include "redis/script.hpp"

namespace surge::redis {
namespace {

// Decodes RESP bytes, fed in pieces of `piece` bytes, with the reader the
// connection uses (hiredis's parser building Reply objects).
std::vector<Reply> decode(std::string_view bytes, std::size_t piece = std::string_view::npos) {
  const ReplyReader reader = make_reply_reader();
  std::vector<Reply> out;
  for (std::size_t at = 0; at < bytes.size();) {
    const std::size_t n = std::min(piece, bytes.size() - at);
    EXPECT_EQ(redisReaderFeed(reader.get(), bytes.data() + at, n), REDIS_OK);
    at += n;
    for (;;) {
      void* raw = nullptr;
      if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK) {
        throw ProtocolError(reader->errstr);
      }
      if (raw == nullptr) {
        break;
      }
      out.push_back(take_reply(raw));
    }
  }
  return out;
}

TEST(RedisReply, ConvertsEveryResp2Type) {
  const auto r = decode(
      "+OK\r\n-WRONGTYPE Operation against a key\r\n:42\r\n:-7\r\n$5\r\nhello\r\n$-1\r\n"
      "*3\r\n:1\r\n$1\r\na\r\n*1\r\n$-1\r\n*0\r\n*-1\r\n$0\r\n\r\n");
  ASSERT_EQ(r.size(), 10U);

  EXPECT_TRUE(r[0].is_status());
  EXPECT_EQ(r[0].type(), Reply::Type::kStatus);
  EXPECT_EQ(r[0].as_string(), "OK");

  EXPECT_TRUE(r[1].is_error());
  EXPECT_EQ(r[1].error_prefix(), "WRONGTYPE");
  EXPECT_EQ(r[1].error_line(), "WRONGTYPE Operation against a key");

  EXPECT_EQ(r[2].as_integer(), 42);
  EXPECT_EQ(r[3].as_integer(), -7);

  EXPECT_TRUE(r[4].is_string());
  EXPECT_FALSE(r[4].is_status());
  EXPECT_EQ(r[4].as_string(), "hello");

  EXPECT_TRUE(r[5].is_nil());
  EXPECT_EQ(r[5].as_optional_string(), std::nullopt);

  ASSERT_TRUE(r[6].is_array());
  const auto& a = r[6].as_array();
  ASSERT_EQ(a.size(), 3U);
  EXPECT_EQ(a[0], Reply::integer(1));
  EXPECT_EQ(a[1], Reply::string("a"));
  EXPECT_EQ(a[2], Reply::array({Reply::nil()}));

  EXPECT_TRUE(r[7].is_array());
  EXPECT_TRUE(r[7].as_array().empty());
  EXPECT_TRUE(r[8].is_nil());  // null array
  EXPECT_EQ(r[9].as_optional_string(), std::string());
}

TEST(RedisReply, BinarySafeStrings) {
  const auto r = decode(std::string_view("$5\r\na\0b\r\n\r\n", 11));
  ASSERT_EQ(r.size(), 1U);
  EXPECT_EQ(r[0].as_string(), std::string_view("a\0b\r\n", 5));
}

TEST(RedisReply, CheckedAccessorsThrowTypedErrors) {
  const Reply error = Reply::error("NOSCRIPT No matching script");
  try {
    (void)error.as_integer();
    FAIL() << "no throw";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kServer);
    EXPECT_EQ(e.prefix(), "NOSCRIPT");
    EXPECT_EQ(e.server_prefix(), "NOSCRIPT");
    EXPECT_STREQ(e.what(), "NOSCRIPT No matching script");
  }
  EXPECT_THROW((void)Reply::string("x").as_integer(), ProtocolError);
  EXPECT_THROW((void)Reply::integer(1).as_string(), ProtocolError);
  EXPECT_THROW((void)Reply::nil().as_array(), ProtocolError);
  EXPECT_THROW(Reply::error("ERR").throw_if_error(), ServerError);
  EXPECT_NO_THROW(Reply::status("OK").throw_if_error());
  // A one-word error line is all prefix.
  EXPECT_EQ(Reply::error("LOADING").error_prefix(), "LOADING");
}

TEST(RedisReply, EqualityAndDebugString) {
  EXPECT_EQ(Reply::string("a"), Reply::string("a"));
  EXPECT_NE(Reply::string("a"), Reply::status("a"));
  EXPECT_NE(Reply::integer(1), Reply::integer(2));
  EXPECT_EQ(Reply::array({Reply::integer(1), Reply::nil()}).debug_string(), "[1, nil]");
  EXPECT_EQ(Reply::error("ERR x").debug_string(), "-ERR x");
  EXPECT_EQ(Reply::status("OK").debug_string(), "+OK");
  EXPECT_EQ(Reply::string(std::string(100, 'x')).debug_string().size(), 64U + 5U);
}

TEST(RedisReply, RepliesSplitAcrossReadsAreTheSame) {
  // A stream read's shape: [[stream, [[id, [field, value, ...]], ...]]],
  // arriving a few bytes at a time, then a status and a nested nil.
  const std::string_view bytes =
      "*1\r\n*2\r\n$9\r\nrp:stream\r\n*2\r\n*2\r\n$15\r\n1700000000000-0\r\n*4\r\n$2\r\nrp\r\n"
      "$2\r\n42\r\n$4\r\nuser\r\n$1\r\n7\r\n*2\r\n$15\r\n1700000000000-1\r\n*-1\r\n+OK\r\n"
      "*2\r\n*1\r\n$-1\r\n:5\r\n";
  const auto whole = decode(bytes);
  ASSERT_EQ(whole.size(), 3U);
  for (const std::size_t piece : {1U, 2U, 7U, 64U}) {
    EXPECT_EQ(decode(bytes, piece), whole) << "pieces of " << piece;
  }
  const auto& entries = whole[0].as_array().at(0).as_array().at(1).as_array();
  ASSERT_EQ(entries.size(), 2U);
  EXPECT_EQ(entries[0].as_array().at(0).as_string(), "1700000000000-0");
  EXPECT_EQ(entries[0].as_array().at(1).as_array().at(3).as_string(), "7");
  EXPECT_TRUE(entries[1].as_array().at(1).is_nil());
  EXPECT_TRUE(whole[1].is_status());
  EXPECT_TRUE(whole[2].as_array().at(0).as_array().at(0).is_nil());
  EXPECT_EQ(whole[2].as_array().at(1).as_integer(), 5);
}

TEST(RedisReply, AReplyCutOffByAProtocolErrorIsFreed) {
  // The half-built array is released by hiredis through the reader's
  // free function (ASan's leak check runs this test too).
  EXPECT_THROW(decode("*3\r\n:1\r\n*2\r\n$1\r\na\r\n?bad\r\n"), ProtocolError);
}

TEST(RedisReply, MalformedBytesAreAProtocolError) {
  EXPECT_THROW(decode("?what\r\n"), ProtocolError);
}

TEST(RedisCommand, EncodesResp) {
  const Command c{"SET", "key", std::string_view("v\0x", 3)};
  EXPECT_EQ(c.bytes(), std::string_view("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$3\r\nv\0x\r\n", 31));
  const Command v(std::vector<std::string>{"GET", ""});
  EXPECT_EQ(v.bytes(), "*2\r\n$3\r\nGET\r\n$0\r\n\r\n");
  std::vector<std::string> many(40, "a");
  EXPECT_EQ(Command(many).bytes().size(), std::string("*40\r\n").size() + 40 * 7);
  EXPECT_THROW(Command(std::vector<std::string>{}), std::invalid_argument);
}

TEST(RedisCommand, BytesAreHiredisOwnEncoding) {
  // hiredis's redisFormatCommandArgv as the oracle: argument counts past
  // 9 and 99, lengths of 0 to 100 000 bytes, NULs and CRLFs inside.
  for (const std::size_t argc : {1U, 2U, 9U, 10U, 100U, 123U}) {
    std::vector<std::string> args;
    for (std::size_t i = 0; i < argc; ++i) {
      const std::size_t len = (i * 7919U) % (i % 5 == 4 ? 100001U : 130U);
      std::string a(len, static_cast<char>('a' + i % 26));
      if (len > 3) {
        a[1] = '\0';
        a[2] = '\r';
        a[3] = '\n';
      }
      args.push_back(std::move(a));
    }
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    char* want = nullptr;
    const int n = redisFormatCommandArgv(&want, static_cast<int>(argc), argv.data(), lens.data());
    ASSERT_GT(n, 0);
    const std::string expected(want, static_cast<std::size_t>(n));
    redisFreeCommand(want);
    EXPECT_EQ(Command(args).bytes(), expected) << argc << " arguments";
  }
}

TEST(RedisCommand, NumbersAreSentAsDecimalText) {
  const Command c{"ZADD", "k", 2.5, "m", -7, 18446744073709551615ULL};
  const Command want{"ZADD", "k", "2.5", "m", "-7", "18446744073709551615"};
  EXPECT_EQ(c.bytes(), want.bytes());
  const std::vector<std::string_view> views = {"GET", "k"};
  EXPECT_EQ(Command(views).bytes(), (Command{"GET", "k"}.bytes()));
}

TEST(RedisArgs, OwnsItsValues) {
  std::string key = "user:1";
  const Args a{key, 42, std::string("tmp")};
  key = "changed";
  EXPECT_EQ(a.values(), (std::vector<std::string>{"user:1", "42", "tmp"}));
  EXPECT_EQ(Args{}.size(), 0U);
  EXPECT_EQ(Args(std::vector<std::string>{"a", "b"}).size(), 2U);
  const std::vector<std::string_view> views = {"x"};
  EXPECT_EQ(Args(views).values().at(0), "x");
}

TEST(RedisScript, Sha1MatchesRedis) {
  // redis-cli SCRIPT LOAD "return 1" → e0e1f9fabfc9d4800c877a703b823ac0578ff8db
  const Script s("return 1");
  EXPECT_EQ(s.sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
  EXPECT_EQ(s.source(), "return 1");
  EXPECT_EQ(sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST(RedisAddress, ParsesHostPortForms) {
  auto a = parse_address("127.0.0.1:6380");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.text(), "127.0.0.1:6380");
  a = parse_address("redis-0");
  EXPECT_EQ(a.host, "redis-0");
  EXPECT_EQ(a.port, 6379);
  a = parse_address("[::1]:7000");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 7000);
  EXPECT_EQ(a.text(), "[::1]:7000");
  for (const char* bad : {"", ":6379", "host:", "host:0", "host:70000", "host:12x", "::1:6379",
                          "[::1", "[::1]x", "[]:1"}) {
    EXPECT_THROW(parse_address(bad), std::invalid_argument) << bad;
  }
}

TEST(RedisError, KindsAndNames) {
  EXPECT_TRUE(ConnectionError("x").unavailable());
  EXPECT_TRUE(TimeoutError("x").unavailable());
  EXPECT_TRUE(CircuitOpenError("x").unavailable());
  EXPECT_FALSE(ServerError("ERR", "ERR x").unavailable());
  EXPECT_FALSE(ProtocolError("x").unavailable());
  EXPECT_EQ(kind_name(Error::Kind::kCircuitOpen), "circuit_open");
  EXPECT_EQ(TimeoutError("x").kind(), Error::Kind::kTimeout);
  EXPECT_TRUE(TimeoutError("x").server_prefix().empty());
}

}  // namespace
}  // namespace surge::redis
