// Where tests find generated fixtures and the shared data sets.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace embedrt::testing {

inline std::filesystem::path test_data_dir() {
  if (const char* dir = std::getenv("EMBEDRT_TEST_DATA")) return dir;
  return EMBEDRT_TEST_DATA_DEFAULT;
}

inline std::filesystem::path shared_data_dir() {
  if (const char* dir = std::getenv("EMBEDRT_SHARED_DATA")) return dir;
  return EMBEDRT_SHARED_DATA_DEFAULT;
}

inline std::filesystem::path cli_path() { return EMBEDRT_CLI_PATH; }

}  // namespace embedrt::testing

// Skips the current test, naming the missing fixture and how to make it.
#define EMBEDRT_REQUIRE_FIXTURE(path)                                  \
  do {                                                                 \
    if (!std::filesystem::exists(path)) {                              \
      GTEST_SKIP() << "missing fixture " << (path)                     \
                   << " (generate it with scripts/make_test_data.sh)"; \
    }                                                                  \
  } while (0)
