// The server's defences against hostile requests: Content-Length parsing, the bounds on a
// request's head and body bytes, JSON nesting, and UTF-8 in responses.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <string>

#include "server/api_error.h"
#include "server/http_transport.h"
#include "server/json_output.h"
#include "server/request_parsing.h"
#include "server/server.h"

namespace embedrt::server {
namespace {

TEST(ContentLength, PlainDigitsOnly) {
  EXPECT_EQ(parse_content_length("0"), 0u);
  EXPECT_EQ(parse_content_length("14"), 14u);
  EXPECT_EQ(parse_content_length("0014"), 14u);
  EXPECT_EQ(parse_content_length("18446744073709551615"), std::numeric_limits<uint64_t>::max());
  for (const char* bad : {"", "-1", "+5", " 5", "5 ", "abc", "5a", "0x10", "1e3", "1,000", "-0"}) {
    EXPECT_FALSE(parse_content_length(bad).has_value()) << bad;
  }
}

TEST(ContentLength, PastUint64ReadsAsTheMaximum) {
  EXPECT_EQ(parse_content_length("18446744073709551616"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(parse_content_length(std::string(40, '9')), std::numeric_limits<uint64_t>::max());
  // Digits are still checked after the value saturates.
  EXPECT_FALSE(parse_content_length(std::string(40, '9') + "x").has_value());
}

// Feeds `text` one byte at a time, as httplib reads a request's head.
ReadFailure feed_bytewise(RequestReadLimits& limits, std::string_view text) {
  for (const char c : text) {
    const ReadFailure failure = limits.consume(std::string_view(&c, 1));
    if (failure != ReadFailure::kNone) return failure;
  }
  return ReadFailure::kNone;
}

TEST(RequestReadLimits, HeadEndsAtTheEmptyLine) {
  RequestReadLimits limits(1024, 1024);
  const std::string head = "POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n";
  EXPECT_EQ(feed_bytewise(limits, head.substr(0, head.size() - 1)), ReadFailure::kNone);
  EXPECT_TRUE(limits.in_head());
  EXPECT_EQ(feed_bytewise(limits, "\n"), ReadFailure::kNone);
  EXPECT_FALSE(limits.in_head());
  EXPECT_EQ(limits.head_bytes(), head.size());
  EXPECT_EQ(limits.consume("body"), ReadFailure::kNone);
  EXPECT_EQ(limits.body_bytes(), 4u);
  EXPECT_EQ(limits.head_bytes(), head.size());
}

TEST(RequestReadLimits, HeadAndBodyInOneRead) {
  RequestReadLimits limits(1024, 1024);
  EXPECT_EQ(limits.consume("GET / HTTP/1.1\r\n\r\nabc"), ReadFailure::kNone);
  EXPECT_FALSE(limits.in_head());
  EXPECT_EQ(limits.head_bytes(), 18u);
  EXPECT_EQ(limits.body_bytes(), 3u);
}

TEST(RequestReadLimits, OnlyACrlfLineAfterALineFeedEndsTheHead) {
  RequestReadLimits limits(1024, 1024);
  // A leading CRLF is httplib's request line, a bare LF line is skipped, "\r\r\n" is no empty
  // line: none of them ends the head.
  EXPECT_EQ(feed_bytewise(limits, "\r\nGET / HTTP/1.1\r\n\n\r\r\nX: y\n"), ReadFailure::kNone);
  EXPECT_TRUE(limits.in_head());
  EXPECT_EQ(feed_bytewise(limits, "\r\n"), ReadFailure::kNone);  // after a bare LF line too
  EXPECT_FALSE(limits.in_head());
}

TEST(RequestReadLimits, EndlessHeaderLinesAndEndlessLines) {
  RequestReadLimits lines(100, 1 << 20);
  ReadFailure failure = ReadFailure::kNone;
  size_t fed = 0;
  for (int i = 0; i < 1000 && failure == ReadFailure::kNone; ++i) {
    failure = feed_bytewise(lines, "X-A: b\r\n");
    fed += 8;
  }
  EXPECT_EQ(failure, ReadFailure::kHeadersTooLarge);
  EXPECT_LE(fed, 108u);

  RequestReadLimits one_line(100, 1 << 20);
  EXPECT_EQ(one_line.consume("GET /"), ReadFailure::kNone);
  EXPECT_EQ(one_line.consume(std::string(95, 'a')), ReadFailure::kNone);  // exactly 100
  EXPECT_EQ(one_line.consume("a"), ReadFailure::kHeadersTooLarge);
}

TEST(RequestReadLimits, BodyBoundAndReset) {
  RequestReadLimits limits(64, 10);
  EXPECT_EQ(limits.consume("POST / HTTP/1.1\r\n\r\n0123456789"), ReadFailure::kNone);
  EXPECT_EQ(limits.consume("x"), ReadFailure::kBodyTooLarge);
  limits.reset();  // the next request on the connection starts from nothing
  EXPECT_TRUE(limits.in_head());
  EXPECT_EQ(limits.head_bytes(), 0u);
  EXPECT_EQ(limits.body_bytes(), 0u);
  EXPECT_EQ(limits.consume("GET / HTTP/1.1\r\n\r\n"), ReadFailure::kNone);
  EXPECT_FALSE(limits.in_head());
}

TEST(RequestReadLimits, BodyWireBoundLeavesRoomForChunkFraming) {
  EXPECT_EQ(max_body_wire_bytes(2'000'000), 4'000'000u + 64 * 1024);
  EXPECT_EQ(max_body_wire_bytes(std::numeric_limits<size_t>::max()),
            std::numeric_limits<size_t>::max());
  EXPECT_EQ(max_body_wire_bytes(std::numeric_limits<size_t>::max() / 2),
            std::numeric_limits<size_t>::max());
}

std::string nested(size_t depth, char open, char close, std::string_view inner) {
  std::string out;
  for (size_t i = 0; i < depth; ++i) {
    out += open;
    if (open == '{') out += "\"k\":";
  }
  out += inner;
  out.append(depth, close);
  return out;
}

int status_of(std::string_view body) {
  try {
    parse_json_body(body);
    return 200;
  } catch (const ApiError& e) {
    return e.status();
  }
}

TEST(JsonDepth, UpToTheLimitParses) {
  EXPECT_EQ(status_of(nested(kMaxJsonDepth, '[', ']', "1")), 200);
  EXPECT_EQ(status_of(nested(kMaxJsonDepth, '{', '}', "1")), 200);
  EXPECT_EQ(status_of(R"({"input": [[1, 2], [3]]})"), 200);
}

TEST(JsonDepth, DeeperIsA400) {
  EXPECT_EQ(status_of(nested(kMaxJsonDepth + 1, '[', ']', "1")), 400);
  EXPECT_EQ(status_of(nested(kMaxJsonDepth + 1, '{', '}', "1")), 400);
  EXPECT_EQ(status_of(std::string(100'000, '[')), 400);
  try {
    parse_json_body(std::string(1'000'000, '{'));  // not even valid: '{' wants a key
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
  }
  try {
    parse_json_body(std::string(1'000'000, '['));
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_NE(std::string(e.what()).find("nested deeper than 128"), std::string::npos);
  }
}

TEST(JsonDepth, BracketsInStringsDoNotCount) {
  const std::string deep_text = "\"" + std::string(10'000, '[') + "\"";
  EXPECT_EQ(status_of("{\"input\": " + deep_text + "}"), 200);
}

TEST(JsonBody, InvalidUtf8AndLoneSurrogatesAre400s) {
  EXPECT_EQ(status_of("{\"input\": \"ab\xff\xfe\"}"), 400);
  EXPECT_EQ(status_of("{\"input\": \"\xc0\x80\"}"), 400);      // overlong NUL
  EXPECT_EQ(status_of("{\"input\": \"\xed\xa0\x80\"}"), 400);  // an encoded surrogate
  EXPECT_EQ(status_of(R"({"input": "\ud800"})"), 400);         // lone high surrogate
  EXPECT_EQ(status_of(R"({"input": "\udc00x"})"), 400);        // lone low surrogate
  EXPECT_EQ(status_of(R"({"input": "\ud83d\ude00"})"), 200);   // a pair is one character
}

TEST(JsonOutput, InvalidUtf8IsReplacedSoTheBodyStaysJson) {
  std::string out;
  append_json_string(out, "no route /\xff\xfe");
  EXPECT_EQ(out, "\"no route /\xEF\xBF\xBD\xEF\xBF\xBD\"");
  EXPECT_EQ(nlohmann::json::parse(out).get<std::string>(), "no route /\uFFFD\uFFFD");
  out.clear();
  append_json_string(out, "last read: '\"ab\xc0'");
  EXPECT_EQ(nlohmann::json::parse(out).get<std::string>(), "last read: '\"ab\uFFFD'");
  out.clear();
  append_json_string(out, "caf\xc3\xa9 \"q\"\n");  // valid text is only escaped
  EXPECT_EQ(out, "\"caf\xc3\xa9 \\\"q\\\"\\n\"");
  const std::string body = error_body(ApiStyle::kOpenAI, 404, "no route /\x80");
  EXPECT_EQ(nlohmann::json::parse(body)["error"]["message"], "no route /\uFFFD");
}

}  // namespace
}  // namespace embedrt::server
