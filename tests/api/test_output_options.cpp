// Matryoshka truncation (dimensions, truncate_dim) and quantized outputs (embedrt/quantization.h).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "embedrt/embedder.h"
#include "embedrt/error.h"
#include "embedrt/quantization.h"
#include "support/test_paths.h"

namespace embedrt {
namespace {

namespace fs = std::filesystem;

fs::path tiny(const char* name) { return testing::test_data_dir() / "tiny-models" / name; }

// One thread: these models are tiny, and a team of threads only waits on a busy machine.
EmbedderOptions one_thread() {
  EmbedderOptions options;
  options.threads = 1;
  return options;
}

std::vector<std::string> texts() {
  return {"A man is playing a guitar.", "", "naïve café", "the the the the the the"};
}

// A fresh directory under the system's temporary folder, removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("embedrt-output-options-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string error_of(const std::function<void()>& f, ErrorCode* code = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (code) *code = e.code();
    return e.what();
  }
  return "(no error)";
}

// --- Quantization: expected bytes worked out by hand from numpy's definitions ----------------

TEST(Quantize, BinaryPacksBitsAsNumpyPackbits) {
  // x > 0 → 1010 0001 | 10(000000): 0xA1, 0x80. Zero is not positive.
  const std::vector<float> row = {1, -1, 0.5f, -0.0f, 0, -2, -3, 1e-30f, 2, -3};
  const auto ubinary = quantize(row, 1, row.size(), OutputPrecision::kUbinary);
  ASSERT_EQ(ubinary.row_bytes, 2u);
  EXPECT_EQ(ubinary.bytes, (std::vector<uint8_t>{0xA1, 0x80}));
  // binary: (packbits - 128) wrapped in uint8, read as int8: 161 - 128 = 33, 128 - 128 = 0.
  const auto binary = quantize(row, 1, row.size(), OutputPrecision::kBinary);
  EXPECT_EQ(static_cast<int8_t>(binary.bytes[0]), 33);
  EXPECT_EQ(static_cast<int8_t>(binary.bytes[1]), 0);
  // All non-positive: 0 → -128 as binary.
  const std::vector<float> negative(8, -1.0f);
  EXPECT_EQ(static_cast<int8_t>(quantize(negative, 1, 8, OutputPrecision::kBinary).bytes[0]), -128);
}

TEST(Quantize, ScalarBucketsFollowNumpy) {
  // Dimension 0: [-255, 255] → step 2 exactly. Dimension 1: min == max → step 1.
  QuantizationRanges ranges{{-255.0f, 0.5f}, {255.0f, 0.5f}};
  const std::vector<float> rows = {
      -255.0f, 0.5f,    // (0, 0)
      0.0f,    3.2f,    // floor(255 / 2) = 127, floor(2.7) = 2
      254.9f,  -7.0f,   // floor(509.9 / 2) = 254, below the range → 0
      255.0f,  1000.0f  // 255, above → 255
  };
  const auto u8 = quantize(rows, 4, 2, OutputPrecision::kUint8, ranges);
  EXPECT_EQ(u8.bytes, (std::vector<uint8_t>{0, 0, 127, 2, 254, 0, 255, 255}));
  const auto i8 = quantize(rows, 4, 2, OutputPrecision::kInt8, ranges);
  std::vector<int> signed_values;
  for (const uint8_t b : i8.bytes) signed_values.push_back(static_cast<int8_t>(b));
  EXPECT_EQ(signed_values, (std::vector<int>{-128, -128, -1, -126, 126, -128, 127, 127}));
}

TEST(Quantize, Float32KeepsTheBytes) {
  const std::vector<float> row = {0.25f, -1.5f, 3.0f};
  const auto q = quantize(row, 1, 3, OutputPrecision::kFloat32);
  ASSERT_EQ(q.bytes.size(), 12u);
  EXPECT_EQ(std::memcmp(q.bytes.data(), row.data(), 12), 0);
}

TEST(Quantize, CalibrationRangesArePerDimensionMinAndMax) {
  const std::vector<float> rows = {1, -2, 3, -4, 5, 6, 0, 0, -1};
  const auto ranges = calibration_ranges(rows, 3, 3);
  EXPECT_EQ(ranges.minimum, (std::vector<float>{-4, -2, -1}));
  EXPECT_EQ(ranges.maximum, (std::vector<float>{1, 5, 6}));
}

TEST(Quantize, RangesRoundTripThroughNpy) {
  TempDir dir;
  const QuantizationRanges ranges{{-0.5f, 0.125f, 1e-7f}, {0.75f, 0.25f, 3.0f}};
  save_quantization_ranges(ranges, dir.path / "ranges.npy");
  const auto back = load_quantization_ranges(dir.path / "ranges.npy", true);
  EXPECT_EQ(back.minimum, ranges.minimum);
  EXPECT_EQ(back.maximum, ranges.maximum);
  // The same file read as calibration embeddings: two rows, min and max of each column.
  const auto as_rows = load_quantization_ranges(dir.path / "ranges.npy", false);
  EXPECT_EQ(as_rows.minimum, (std::vector<float>{-0.5f, 0.125f, 1e-7f}));
}

TEST(Quantize, Float64CalibrationIsRoundedToFloat32) {
  TempDir dir;
  std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1), }";
  dict.resize(128 - 10 - 1, ' ');
  dict += '\n';
  std::string file("\x93NUMPY\x01\x00", 8);
  file += static_cast<char>(dict.size());
  file += '\0';
  file += dict;
  const double values[2] = {0.1, -0.3};
  file.append(reinterpret_cast<const char*>(values), sizeof values);
  std::ofstream(dir.path / "c.npy", std::ios::binary) << file;
  const auto ranges = load_quantization_ranges(dir.path / "c.npy", false);
  EXPECT_EQ(ranges.minimum, (std::vector<float>{static_cast<float>(-0.3)}));
  EXPECT_EQ(ranges.maximum, (std::vector<float>{static_cast<float>(0.1)}));
}

TEST(Quantize, BadInputIsAOneLineError) {
  ErrorCode code{};
  EXPECT_NE(error_of([] { parse_output_precision("fp16"); }, &code).find("'fp16'"),
            std::string::npos);
  EXPECT_EQ(code, ErrorCode::kInvalidArgument);
  const std::vector<float> row = {1, 2, 3};
  EXPECT_NE(error_of([&] { quantize(row, 1, 3, OutputPrecision::kInt8); }).find("ranges"),
            std::string::npos);
  const QuantizationRanges two{{0, 0}, {1, 1}};
  const std::string wrong = error_of([&] { quantize(row, 1, 3, OutputPrecision::kUint8, two); });
  EXPECT_NE(wrong.find("2 dimensions"), std::string::npos) << wrong;
  EXPECT_NE(wrong.find("3"), std::string::npos) << wrong;
  TempDir dir;
  std::ofstream(dir.path / "not.npy") << "hello";
  const std::string bad = error_of([&] { load_quantization_ranges(dir.path / "not.npy", true); });
  EXPECT_NE(bad.find("not.npy"), std::string::npos) << bad;
  EXPECT_EQ(bad.find('\n'), std::string::npos) << bad;
}

// --- Matryoshka truncation --------------------------------------------------------------------

// The first `n` values of `row`, scaled to unit length in double precision.
std::vector<double> unit_head(std::span<const float> row, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += double(row[i]) * row[i];
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = row[i] / std::sqrt(sum);
  return out;
}

TEST(Dimensions, TruncatesAndRenormalizesNormalizedModels) {
  EMBEDRT_REQUIRE_FIXTURE(tiny("tiny-mean") / "model.safetensors");
  const Embedder embedder = Embedder::load(tiny("tiny-mean").string(), one_thread());
  ASSERT_TRUE(embedder.info().normalize);
  const size_t full = embedder.info().model_dimension;
  ASSERT_EQ(embedder.info().dimension, full);
  const auto input = texts();
  const Embeddings whole = embedder.encode(input);
  EncodeOptions options;
  options.dimensions = 8;
  const Embeddings cut = embedder.encode(input, options);
  ASSERT_EQ(cut.dimension, 8u);
  for (size_t r = 0; r < input.size(); ++r) {
    const auto want = unit_head(whole.row(r), 8);
    double norm = 0;
    for (size_t c = 0; c < 8; ++c) {
      EXPECT_NEAR(cut.row(r)[c], want[c], 1e-6) << "row " << r << ", value " << c;
      norm += double(cut.row(r)[c]) * cut.row(r)[c];
    }
    EXPECT_NEAR(norm, 1.0, 1e-6);
  }
  // The full dimension given explicitly changes nothing.
  options.dimensions = full;
  EXPECT_EQ(embedder.encode(input, options).values, whole.values);
}

TEST(Dimensions, KeepsTheHeadOfUnnormalizedModelsAsItIs) {
  EMBEDRT_REQUIRE_FIXTURE(tiny("tiny-cls") / "model.safetensors");
  EmbedderOptions load_options = one_thread();
  load_options.dimensions = 5;
  const Embedder embedder = Embedder::load(tiny("tiny-cls").string(), load_options);
  ASSERT_FALSE(embedder.info().normalize);
  EXPECT_EQ(embedder.info().dimension, 5u);
  EXPECT_EQ(embedder.info().model_dimension, 48u);
  const auto input = texts();
  const Embeddings cut = embedder.encode(input);
  EncodeOptions all;
  all.dimensions = 48;
  const Embeddings whole = embedder.encode(input, all);
  ASSERT_EQ(cut.dimension, 5u);
  for (size_t r = 0; r < input.size(); ++r) {
    for (size_t c = 0; c < 5; ++c) EXPECT_EQ(cut.row(r)[c], whole.row(r)[c]);
  }
  // normalize requested: the head is scaled to unit length.
  EncodeOptions normalized;
  normalized.normalize = true;
  const Embeddings unit = embedder.encode(input, normalized);
  for (size_t r = 0; r < input.size(); ++r) {
    const auto want = unit_head(whole.row(r), 5);
    for (size_t c = 0; c < 5; ++c) EXPECT_NEAR(unit.row(r)[c], want[c], 1e-6);
  }
}

TEST(Dimensions, CacheHitsAndTokenIdsAreTruncatedToo) {
  EMBEDRT_REQUIRE_FIXTURE(tiny("tiny-mean") / "model.safetensors");
  EmbedderOptions load_options = one_thread();
  load_options.cache_bytes = 1 << 20;
  const Embedder embedder = Embedder::load(tiny("tiny-mean").string(), load_options);
  const auto input = texts();
  EncodeOptions options;
  options.dimensions = 6;
  const Embeddings first = embedder.encode(input, options);   // misses: fills the cache
  const Embeddings second = embedder.encode(input, options);  // hits
  EXPECT_EQ(first.values, second.values);
  EXPECT_GT(embedder.cache_stats().hits, 0u);
  const Embeddings whole = embedder.encode(input);  // a hit of the full vector, not the cut one
  EXPECT_EQ(whole.dimension, embedder.info().model_dimension);

  const std::vector<std::vector<int32_t>> ids = {{2, 10, 11, 3}};
  auto prepared = embedder.prepare_token_ids(ids, options);
  std::vector<PreparedText*> batch = {&prepared[0]};
  embedder.embed_batch(batch);
  EXPECT_EQ(prepared[0].embedding.size(), 6u);
}

TEST(Dimensions, OutOfRangeIsAOneLineErrorNamingBoth) {
  EMBEDRT_REQUIRE_FIXTURE(tiny("tiny-mean") / "model.safetensors");
  const Embedder embedder = Embedder::load(tiny("tiny-mean").string(), one_thread());
  const auto input = texts();
  for (const size_t bad : {size_t{0}, size_t{33}}) {
    EncodeOptions options;
    options.dimensions = bad;
    ErrorCode code{};
    const std::string message = error_of([&] { embedder.encode(input, options); }, &code);
    EXPECT_EQ(code, ErrorCode::kInvalidArgument) << message;
    EXPECT_NE(message.find("dimensions " + std::to_string(bad)), std::string::npos) << message;
    EXPECT_NE(message.find("32"), std::string::npos) << message;
    EmbedderOptions load_options = one_thread();
    load_options.dimensions = bad;
    EXPECT_NE(error_of([&] {
                Embedder::load(tiny("tiny-mean").string(), load_options);
              }).find("dimensions " + std::to_string(bad)),
              std::string::npos);
  }
}

// A copy of tiny-mean whose config_sentence_transformers.json says `truncate_dim`.
fs::path with_truncate_dim(const fs::path& dir, const std::string& value) {
  fs::copy(tiny("tiny-mean"), dir / "model", fs::copy_options::recursive);
  std::ofstream(dir / "model" / "config_sentence_transformers.json")
      << "{\"prompts\": {}, \"default_prompt_name\": null, \"truncate_dim\": " << value << "}";
  return dir / "model";
}

TEST(Dimensions, TruncateDimFromTheModelFolder) {
  EMBEDRT_REQUIRE_FIXTURE(tiny("tiny-mean") / "model.safetensors");
  TempDir dir;
  const fs::path model = with_truncate_dim(dir.path, "12");
  const Embedder embedder = Embedder::load(model.string(), one_thread());
  EXPECT_EQ(embedder.info().dimension, 12u);
  EXPECT_EQ(embedder.info().model_dimension, 32u);
  EXPECT_EQ(embedder.encode(texts()).dimension, 12u);
  EmbedderOptions wider = one_thread();
  wider.dimensions = 32;  // an explicit option wins
  EXPECT_EQ(Embedder::load(model.string(), wider).info().dimension, 32u);
}

TEST(Dimensions, BadTruncateDimNamesTheFileAndField) {
  EMBEDRT_REQUIRE_FIXTURE(tiny("tiny-mean") / "model.safetensors");
  TempDir dir;
  const fs::path model = with_truncate_dim(dir.path, "\"eight\"");
  ErrorCode code{};
  const std::string message =
      error_of([&] { Embedder::load(model.string(), one_thread()); }, &code);
  EXPECT_EQ(code, ErrorCode::kInvalidModel);
  EXPECT_NE(message.find("config_sentence_transformers.json"), std::string::npos) << message;
  EXPECT_NE(message.find("truncate_dim"), std::string::npos) << message;
}

}  // namespace
}  // namespace embedrt
