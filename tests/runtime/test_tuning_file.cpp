#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <regex>

#include "embedrt/error.h"
#include "runtime/tuning_file.h"

namespace embedrt::runtime {
namespace {

TuneResult sample() {
  TuneResult r;
  r.model = "all-MiniLM-L6-v2";
  r.model_dir = "/models/all-MiniLM-L6-v2";
  r.cpu = "AMD EPYC 7B13";
  r.cpu_count = 2;
  r.date = "2026-11-28T10:00:00Z";
  r.precision = "fp32";
  r.deterministic = true;
  r.seconds_per_point = 1.5;
  r.workload = "synthetic";
  r.texts = 512;
  r.tokens = 20753;
  r.median_tokens = 32;
  r.max_tokens = 256;
  TunePoint a;
  a.threads = 1;
  a.batch_size = 16;
  a.max_batch_tokens = 512;
  a.batches_run = 9;
  a.texts_per_second = 100.5;
  a.tokens_per_second = 4000.25;
  a.p50_batch_ms = 150;
  a.p90_batch_ms = 170;
  a.estimated_bytes = 8u << 20;
  TunePoint b = a;
  b.threads = 2;
  b.texts_per_second = 190;
  b.same_batches_as = 0;
  r.points = {a, b};
  r.best = 1;
  return r;
}

TEST(TuningFile, RoundTrips) {
  const TuneResult r = sample();
  const TuneResult back = tuning_from_json(tuning_to_json(r), "t.json");
  EXPECT_EQ(back.model, r.model);
  EXPECT_EQ(back.model_dir, r.model_dir);
  EXPECT_EQ(back.cpu, r.cpu);
  EXPECT_EQ(back.cpu_count, 2);
  EXPECT_EQ(back.date, r.date);
  EXPECT_EQ(back.precision, "fp32");
  EXPECT_TRUE(back.deterministic);
  EXPECT_FALSE(back.target_latency_ms);
  EXPECT_EQ(back.workload, "synthetic");
  EXPECT_EQ(back.tokens, 20753u);
  ASSERT_EQ(back.points.size(), 2u);
  EXPECT_EQ(back.best, 1u);
  EXPECT_EQ(back.points[1].threads, 2);
  EXPECT_DOUBLE_EQ(back.points[0].tokens_per_second, 4000.25);
  EXPECT_EQ(back.points[0].estimated_bytes, 8u << 20);
  EXPECT_EQ(back.points[1].same_batches_as, 0u);
  EXPECT_FALSE(back.points[0].same_batches_as);
}

TEST(TuningFile, SettingsAndMeasuredFiguresAreTheBestPoint) {
  const auto j = nlohmann::json::parse(tuning_to_json(sample()));
  EXPECT_EQ(j["settings"]["threads"], 2);
  EXPECT_EQ(j["settings"]["batch_size"], 16);
  EXPECT_EQ(j["settings"]["max_batch_tokens"], 512);
  EXPECT_EQ(j["measured"]["texts_per_second"], 190.0);
  EXPECT_EQ(j["format"], 1);
  EXPECT_EQ(j["grid"].size(), 2u);
}

TEST(TuningFile, HandEditedSettingsWin) {
  auto j = nlohmann::json::parse(tuning_to_json(sample()));
  j["settings"]["batch_size"] = 48;
  const TuneResult back = tuning_from_json(j.dump(), "t.json");
  ASSERT_LT(back.best, back.points.size());
  EXPECT_EQ(back.points[back.best].batch_size, 48u);
  EXPECT_EQ(back.points[back.best].threads, 2);

  // The grid and the figures are optional: settings alone make a valid file.
  for (const char* key : {"grid", "best", "measured", "workload", "seconds_per_point"}) {
    j.erase(key);
  }
  const TuneResult minimal = tuning_from_json(j.dump(), "t.json");
  EXPECT_EQ(minimal.points.at(minimal.best).batch_size, 48u);
}

TEST(TuningFile, ErrorsNameTheFileAndTheField) {
  const auto expect_error = [](const std::string& text, const std::string& needle) {
    try {
      tuning_from_json(text, "/home/x/tuning/m.json");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      const std::string what = e.what();
      EXPECT_EQ(what.rfind("/home/x/tuning/m.json: ", 0), 0u) << what;
      EXPECT_NE(what.find(needle), std::string::npos) << what;
    }
  };
  auto j = nlohmann::json::parse(tuning_to_json(sample()));
  expect_error("{not json", "invalid JSON");
  expect_error("[]", "expected an object");
  expect_error(R"({"format": 1e400})", "invalid JSON");  // out_of_range, not parse_error

  auto bad = j;
  bad["settings"]["threads"] = 0;
  expect_error(bad.dump(), "settings.threads: expected a positive integer");
  bad = j;
  bad["settings"]["max_batch_tokens"] = "many";
  expect_error(bad.dump(), "settings.max_batch_tokens");
  bad = j;
  bad.erase("settings");
  expect_error(bad.dump(), "settings: missing");
  bad = j;
  bad["format"] = 2;
  expect_error(bad.dump(), "format: expected 1");
  bad = j;
  bad["grid"][1]["p50_batch_ms"] = -1;
  expect_error(bad.dump(), "grid[1].p50_batch_ms");
  bad = j;
  bad["cpu"] = 5;
  expect_error(bad.dump(), "cpu: expected a string");
}

TEST(TuningFile, MachineDescription) {
  EXPECT_FALSE(cpu_model_name().empty());
  EXPECT_TRUE(std::regex_match(utc_timestamp(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")))
      << utc_timestamp();
}

}  // namespace
}  // namespace embedrt::runtime
