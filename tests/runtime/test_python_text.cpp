// Expected values were produced by CPython 3.11 (str.strip, str.lower, bytes.decode("utf-8",
// "replace")).
#include <gtest/gtest.h>

#include "runtime/python_text.h"

namespace embedrt::runtime {
namespace {

TEST(PythonStrip, RemovesPythonWhitespaceOnly) {
  EXPECT_EQ(python_strip("  hello \t\n"), "hello");
  EXPECT_EQ(python_strip("\u3000x\u2003"), "x");
  EXPECT_EQ(python_strip("\x1c" "A\x1f"), "A");  // information separators are whitespace
  EXPECT_EQ(python_strip("\u00a0B\u0085"), "B");
  // Zero-width space is not whitespace to Python.
  EXPECT_EQ(python_strip("\u200bA\u200b"), "\u200bA\u200b");
  EXPECT_EQ(python_strip(""), "");
  EXPECT_EQ(python_strip(" \t "), "");
}

TEST(PythonLower, MatchesCPython) {
  EXPECT_EQ(python_lower("\x1c" "A\x1f"), "\x1c" "a\x1f");
  EXPECT_EQ(python_lower("\u00a0B\u0085"), "\u00a0b\u0085");
  EXPECT_EQ(python_lower("İstanbul"), "i\xcc\x87stanbul");
  EXPECT_EQ(python_lower("ΟΔΟΣ ΣΑ Σ"), "οδος σα σ");
  EXPECT_EQ(python_lower("ΑΣ."), "ας.");
  EXPECT_EQ(python_lower("Σ"), "σ");
  EXPECT_EQ(python_lower("aΣ\u0301b"), "aσ\u0301b");
  EXPECT_EQ(python_lower("ÀÉÎÕÜ ÇÑ"), "àéîõü çñ");
}

size_t replaced(std::string_view in, std::string& out) { return replace_invalid_utf8(in, out); }

TEST(ReplaceInvalidUtf8, MaximalSubpartsLikePython) {
  std::string out;
  EXPECT_EQ(replaced("a\xff" "b", out), 1u);
  EXPECT_EQ(out, "a\uFFFDb");
  EXPECT_EQ(replaced("\xe2\x82", out), 1u);  // truncated sequence at the end
  EXPECT_EQ(out, "\uFFFD");
  EXPECT_EQ(replaced("\xe2\x82" "a", out), 1u);
  EXPECT_EQ(out, "\uFFFD" "a");
  EXPECT_EQ(replaced("\xf0\x9f\x98", out), 1u);
  EXPECT_EQ(replaced("\xed\xa0\x80", out), 3u);  // surrogate code point
  EXPECT_EQ(out, "\uFFFD\uFFFD\uFFFD");
  EXPECT_EQ(replaced("\xc0\xaf", out), 2u);  // overlong
  EXPECT_EQ(replaced("\xf4\x90\x80\x80", out), 4u);  // beyond U+10FFFF
  EXPECT_EQ(replaced("\xe0\x80\x80x", out), 3u);
  EXPECT_EQ(out, "\uFFFD\uFFFD\uFFFDx");
}

TEST(ReplaceInvalidUtf8, KeepsValidTextUnchanged) {
  std::string out;
  const std::string text = "héllo wörld 日本語 🙂 👩‍👩‍👧";
  EXPECT_EQ(replaced(text, out), 0u);
  EXPECT_EQ(out, text);
}

}  // namespace
}  // namespace embedrt::runtime
