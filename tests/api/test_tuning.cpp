// tune() on a tiny random-weight model, the tuning file it writes, and load_tuning().
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "embedrt/error.h"
#include "embedrt/tuning.h"
#include "support/test_paths.h"

namespace embedrt {
namespace {

namespace fs = std::filesystem;

fs::path tiny() { return testing::test_data_dir() / "tiny-models" / "tiny-mean"; }

// Points EMBEDRT_HOME at a fresh folder for the test's duration.
class TuningHome : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* old = std::getenv("EMBEDRT_HOME")) saved_ = old;
    home_ = fs::temp_directory_path() /
            ("embedrt-tuning-test-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(home_);
    fs::create_directories(home_);
    setenv("EMBEDRT_HOME", home_.c_str(), 1);
  }
  void TearDown() override {
    if (saved_) {
      setenv("EMBEDRT_HOME", saved_->c_str(), 1);
    } else {
      unsetenv("EMBEDRT_HOME");
    }
    fs::remove_all(home_);
  }

  static TuneOptions small_grid() {
    TuneOptions o;
    o.threads = {1};
    o.token_budgets = {128, 1024};
    o.batch_sizes = {4, 32};
    o.seconds_per_point = 0.02;
    o.synthetic_texts = 64;
    return o;
  }

  fs::path home_;
  std::optional<std::string> saved_;
};

TEST_F(TuningHome, TunesAGridAndWritesAFileThatLoadTuningReads) {
  EMBEDRT_REQUIRE_FIXTURE(tiny() / "model.safetensors");
  std::vector<TunePoint> seen;
  const TuneResult result =
      tune(tiny().string(), {}, small_grid(), [&](const TunePoint& p) { seen.push_back(p); });
  ASSERT_EQ(result.points.size(), 4u);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(result.model, "tiny-mean");
  EXPECT_EQ(result.texts, 64u);
  EXPECT_GT(result.tokens, 64u * 4);
  EXPECT_GE(result.max_tokens, result.median_tokens);
  EXPECT_NE(result.workload.find("synthetic"), std::string::npos);
  EXPECT_EQ(result.precision, "fp32");
  std::set<std::tuple<int, size_t, size_t>> grid;
  for (const TunePoint& p : result.points) {
    grid.emplace(p.threads, p.batch_size, p.max_batch_tokens);
    EXPECT_GT(p.texts_per_second, 0);
    EXPECT_GT(p.tokens_per_second, p.texts_per_second);
    // Both figures describe one pass over the whole workload.
    EXPECT_NEAR(p.tokens_per_second / p.texts_per_second,
                double(result.tokens) / double(result.texts), 1e-6);
    EXPECT_GT(p.p50_batch_ms, 0);
    EXPECT_GE(p.p90_batch_ms, p.p50_batch_ms);
    EXPECT_GT(p.estimated_bytes, 0u);
    EXPECT_GE(p.batches_run, 1u);
  }
  EXPECT_EQ(grid.size(), 4u);
  ASSERT_LT(result.best, result.points.size());
  for (const TunePoint& p : result.points) {
    EXPECT_LE(p.texts_per_second, result.points[result.best].texts_per_second / 0.98 + 1e-9);
  }

  EXPECT_FALSE(load_tuning(tiny().string()));
  const fs::path path = default_tuning_path(tiny().string());
  EXPECT_EQ(path, home_ / "tuning" / "tiny-mean.json");
  write_tuning_file(result, path);
  const auto settings = load_tuning(tiny().string());
  ASSERT_TRUE(settings);
  EXPECT_EQ(settings->threads, result.points[result.best].threads);
  EXPECT_EQ(settings->batch_size, result.points[result.best].batch_size);
  EXPECT_EQ(settings->max_batch_tokens, result.points[result.best].max_batch_tokens);
  EXPECT_EQ(settings->precision, "fp32");
  EXPECT_EQ(settings->source, path);
  // The key is the folder's name, however the model is spelled.
  EXPECT_TRUE(load_tuning(tiny().string() + "/"));
  EXPECT_TRUE(load_tuning("tiny-mean"));
  EXPECT_FALSE(load_tuning("tiny-cls"));
}

TEST_F(TuningHome, SamePlansAreMeasuredOnce) {
  EMBEDRT_REQUIRE_FIXTURE(tiny() / "model.safetensors");
  TuneOptions o = small_grid();
  // Budgets far above what 4 texts hold: both give the very same batches.
  o.token_budgets = {100000, 200000};
  o.batch_sizes = {4};
  const TuneResult result = tune(tiny().string(), {}, o);
  ASSERT_EQ(result.points.size(), 2u);
  EXPECT_FALSE(result.points[0].same_batches_as);
  EXPECT_EQ(result.points[1].same_batches_as, 0u);
  EXPECT_EQ(result.points[1].texts_per_second, result.points[0].texts_per_second);
}

TEST_F(TuningHome, TunesOnGivenTexts) {
  EMBEDRT_REQUIRE_FIXTURE(tiny() / "model.safetensors");
  std::vector<std::string> texts;
  for (int i = 0; i < 30; ++i) texts.push_back("text number " + std::to_string(i) + " is short");
  const TuneResult result = tune(tiny().string(), texts, small_grid());
  EXPECT_EQ(result.texts, 30u);
  EXPECT_NE(result.workload.find("30 input texts"), std::string::npos) << result.workload;
}

TEST_F(TuningHome, IgnoresFilesFromAnotherMachine) {
  EMBEDRT_REQUIRE_FIXTURE(tiny() / "model.safetensors");
  TuneResult result = tune(tiny().string(), {}, small_grid());
  const fs::path path = default_tuning_path("tiny-mean");
  result.cpu = "Some Other CPU";
  write_tuning_file(result, path);
  EXPECT_FALSE(load_tuning("tiny-mean"));
}

TEST_F(TuningHome, MalformedFileThrowsNamingIt) {
  const fs::path path = default_tuning_path("tiny-mean");
  fs::create_directories(path.parent_path());
  std::ofstream(path) << "{\"format\": 1}";
  try {
    load_tuning("tiny-mean");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
}

TEST_F(TuningHome, RejectsEmptyGridValues) {
  EMBEDRT_REQUIRE_FIXTURE(tiny() / "model.safetensors");
  TuneOptions o = small_grid();
  o.batch_sizes = {0};
  EXPECT_THROW(tune(tiny().string(), {}, o), Error);
  o = small_grid();
  o.seconds_per_point = 0;
  EXPECT_THROW(tune(tiny().string(), {}, o), Error);
}

}  // namespace
}  // namespace embedrt
