// Expected values were produced by CPython 3.11 (str.strip, str.lower).
#include <gtest/gtest.h>

#include "runtime/python_text.h"

namespace embedrt::runtime {
namespace {

TEST(PythonStrip, RemovesPythonWhitespaceOnly) {
  EXPECT_EQ(python_strip("  hello \t\n"), "hello");
  EXPECT_EQ(python_strip("\u3000x\u2003"), "x");
  EXPECT_EQ(python_strip("\x1c"
                         "A\x1f"),
            "A");  // information separators are whitespace
  EXPECT_EQ(python_strip("\u00a0B\u0085"), "B");
  // Zero-width space is not whitespace to Python.
  EXPECT_EQ(python_strip("\u200bA\u200b"), "\u200bA\u200b");
  EXPECT_EQ(python_strip(""), "");
  EXPECT_EQ(python_strip(" \t "), "");
}

TEST(PythonLower, MatchesCPython) {
  EXPECT_EQ(python_lower("\x1c"
                         "A\x1f"),
            "\x1c"
            "a\x1f");
  EXPECT_EQ(python_lower("\u00a0B\u0085"), "\u00a0b\u0085");
  EXPECT_EQ(python_lower("İstanbul"), "i\xcc\x87stanbul");
  EXPECT_EQ(python_lower("ΟΔΟΣ ΣΑ Σ"), "οδος σα σ");
  EXPECT_EQ(python_lower("ΑΣ."), "ας.");
  EXPECT_EQ(python_lower("Σ"), "σ");
  EXPECT_EQ(python_lower("aΣ\u0301b"), "aσ\u0301b");
  EXPECT_EQ(python_lower("ÀÉÎÕÜ ÇÑ"), "àéîõü çñ");
}

}  // namespace
}  // namespace embedrt::runtime
