// The memory model (embedrt/tuning.h) against what a batch really takes: the Embedder's own
// buffer high-water mark, and the growth of the process's peak resident set. Each shape runs in a
// fresh child process (this binary, re-run with one test selected), so peaks do not carry over
// between shapes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "embedrt/embedder.h"
#include "embedrt/profile.h"
#include "embedrt/tuning.h"
#include "support/test_paths.h"

namespace embedrt {
namespace {

std::filesystem::path minilm() { return testing::test_data_dir() / "models" / "all-MiniLM-L6-v2"; }

constexpr const char* kShapeVariable = "EMBEDRT_MEMORY_PROBE_SHAPE";
constexpr const char* kResultPrefix = "memory-probe:";
constexpr size_t kWarmupTokens = 8;

// A /proc/self/status field in bytes ("RssFile"), 0 where the OS does not give it.
size_t status_bytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0)
      return size_t(std::stoull(line.substr(field.size() + 1))) * 1024;
  }
  return 0;
}

std::vector<std::vector<int32_t>> sequences(size_t count, size_t length, size_t vocab) {
  std::mt19937 rng(1);
  std::uniform_int_distribution<int32_t> id(1000, static_cast<int32_t>(vocab) - 1);
  std::vector<std::vector<int32_t>> out(count, std::vector<int32_t>(length));
  for (auto& s : out) {
    for (int32_t& x : s) x = id(rng);
  }
  return out;
}

// Runs in the child: one batch of the shape named by kShapeVariable
// ("texts,length,threads,precision"), reporting the Embedder's buffer peak and how far the
// process's peak RSS rose for it.
TEST(MemoryModelProbe, OneShape) {
  const char* shape = std::getenv(kShapeVariable);
  if (!shape) GTEST_SKIP() << "runs only as the child of MemoryModel.* tests";
  size_t texts = 0, length = 0;
  int threads = 0;
  char precision[16] = {};
  ASSERT_EQ(std::sscanf(shape, "%zu,%zu,%d,%15s", &texts, &length, &threads, precision), 4)
      << shape;
  EmbedderOptions options;
  options.threads = threads;
  options.precision = parse_precision(precision);
  options.batch_size = texts;
  options.max_batch_tokens = texts * length;
  options.cache_bytes = 0;
  const Embedder embedder = Embedder::load(minilm().string(), options);
  const size_t vocab = embedder.info().vocab_size;

  // Threads, primitives and the smallest buffers exist before the measurement starts.
  auto warmup = embedder.prepare_token_ids(sequences(1, kWarmupTokens, vocab));
  std::vector<PreparedText*> warm{&warmup[0]};
  embedder.embed_batch(warm);

  auto items = embedder.prepare_token_ids(sequences(texts, length, vocab));
  std::vector<PreparedText*> batch;
  for (auto& item : items) batch.push_back(&item);

  // Writing 5 to clear_refs resets the peak (VmHWM) to the current resident set.
  std::ofstream("/proc/self/clear_refs") << "5";
  const size_t before = process_peak_rss_bytes();
  // Where the kernel ignores the reset, the peak is still the load's and says nothing here.
  const bool reset = before <= process_rss_bytes() + 64 * 1024;
  // An fp32 word table is read in place from the checkpoint: the rows this batch uses first are
  // mapped in as file pages during it, which are weights, not the buffers the model describes.
  const size_t file_before = status_bytes("RssFile");
  embedder.embed_batch(batch);
  const size_t after = process_peak_rss_bytes();
  const size_t file_growth =
      status_bytes("RssFile") - std::min(file_before, status_bytes("RssFile"));
  std::printf("%s %zu %zu %zu %d %zu\n", kResultPrefix, embedder.buffer_peak_bytes(), before, after,
              reset ? 1 : 0, file_growth);
}

struct Measured {
  size_t buffer_peak = 0;
  size_t rss_before = 0;
  size_t rss_peak = 0;
  int peak_reset = 0;      // the kernel honoured the reset of VmHWM
  size_t file_growth = 0;  // file pages mapped in during the batch (RssFile)
};

Measured measure_in_child(size_t texts, size_t length, int threads, Precision precision) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string command = std::string(kShapeVariable) + "=" + std::to_string(texts) + "," +
                              std::to_string(length) + "," + std::to_string(threads) + "," +
                              std::string(to_string(precision)) + " '" + self +
                              "' --gtest_filter=MemoryModelProbe.OneShape 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run " + command);
  std::string output;
  char chunk[4096];
  while (size_t n = std::fread(chunk, 1, sizeof chunk, pipe)) output.append(chunk, n);
  pclose(pipe);
  const size_t at = output.find(kResultPrefix);
  if (at == std::string::npos) throw std::runtime_error("no result from the child:\n" + output);
  std::istringstream in(output.substr(at + std::strlen(kResultPrefix)));
  Measured m;
  in >> m.buffer_peak >> m.rss_before >> m.rss_peak >> m.peak_reset >> m.file_growth;
  return m;
}

double relative_error(double estimate, double measured) { return estimate / measured - 1.0; }

// Runs each (texts, length) shape in a child and compares the memory model with what it used.
void check_shapes(Precision precision, std::span<const std::pair<size_t, size_t>> shapes) {
  const int threads = 2;
  EmbedderOptions options;
  options.threads = threads;
  options.precision = precision;
  const ModelInfo info = Embedder::load(minilm().string(), options).info();
  if (info.precision != precision) {
    GTEST_SKIP() << to_string(precision) << " falls back to " << to_string(info.precision)
                 << " on this CPU";
  }
  const size_t warm = estimate_batch_memory(info, kWarmupTokens, kWarmupTokens).batch();

  std::printf("%s, %d threads\n%6s %6s %7s | %10s %10s %7s | %10s %10s %7s\n",
              std::string(to_string(precision)).c_str(), threads, "texts", "length", "tokens",
              "buffers MB", "model MB", "error", "RSS +MB", "model MB", "error");
  double worst_buffer = 0, worst_rss = 0;
  for (const auto& [texts, length] : shapes) {
    const size_t tokens = texts * length;
    const BatchMemoryEstimate e = estimate_batch_memory(info, tokens, length);
    const Measured m = measure_in_child(texts, length, threads, precision);
    const double buffer_error = relative_error(double(e.workspace()), double(m.buffer_peak));
    // The warm-up batch's buffers were resident before the peak was reset.
    const double rss_model = double(e.batch() - std::min(e.batch(), warm));
    const double rss_growth =
        double(m.rss_peak - std::min(m.rss_peak, m.rss_before + m.file_growth));
    const double rss_error = relative_error(rss_model, rss_growth);
    std::printf("%6zu %6zu %7zu | %10.2f %10.2f %+6.1f%% | %10.2f %10.2f %+6.1f%%\n", texts, length,
                tokens, m.buffer_peak / 1048576.0, e.workspace() / 1048576.0, 100 * buffer_error,
                rss_growth / 1048576.0, rss_model / 1048576.0, 100 * rss_error);
    EXPECT_LE(std::abs(buffer_error), 0.20) << texts << " x " << length;
    worst_buffer = std::max(worst_buffer, std::abs(buffer_error));
    if (!m.peak_reset) {
      std::printf("  (peak RSS not checked: this kernel does not reset VmHWM)\n");
    } else if (rss_model >= 8.0 * 1048576) {
      EXPECT_LE(std::abs(rss_error), 0.20) << texts << " x " << length;
      worst_rss = std::max(worst_rss, std::abs(rss_error));
    } else {
      // Small buffers can come from pages the allocator already holds (freed while loading),
      // so the resident set may grow by less; it must not grow by more.
      EXPECT_LE(rss_growth, rss_model + 1048576) << texts << " x " << length;
    }
  }
  std::printf("worst error: buffers %.1f%%, RSS growth (shapes >= 8 MB) %.1f%%\n",
              100 * worst_buffer, 100 * worst_rss);
}

// Corners and middle of 1..64 texts x 16..256 tokens (all-MiniLM-L6-v2 cuts longer inputs at
// 256). Each shape costs a model load in its child, so the grids are kept short.
TEST(MemoryModel, MatchesMeasuredPeaksOnAGridOfBatchShapes) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  const std::pair<size_t, size_t> shapes[] = {{1, 16},  {1, 256}, {8, 128},
                                              {16, 64}, {64, 16}, {64, 256}};
  check_shapes(Precision::kF32, shapes);
}

TEST(MemoryModel, MatchesMeasuredPeaksInInt8) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  // 8 x 125 tokens is not a multiple of 16: the padded last call goes through s32 scratch.
  const std::pair<size_t, size_t> shapes[] = {{8, 125}, {64, 16}, {64, 256}};
  check_shapes(Precision::kInt8, shapes);
}

// Families whose matmul widths are not BERT's: grouped K/V heads with a head size of their own
// (Qwen3, Gemma 3), gated MLPs (those and NomicBERT), pre-norm blocks (ModernBERT, Qwen3, Gemma 3).
class ShapedFamilies : public ::testing::TestWithParam<const char*> {};

TEST_P(ShapedFamilies, WorkspaceEstimateMatchesWhatABatchUses) {
  const auto dir = testing::test_data_dir() / "family-models" / GetParam();
  EMBEDRT_REQUIRE_FIXTURE(dir / "model.safetensors");
  constexpr size_t kTexts = 8, kLength = 48;
  EmbedderOptions options;
  options.threads = 2;
  options.cache_bytes = 0;
  options.batch_size = kTexts;
  options.max_batch_tokens = kTexts * kLength;
  const Embedder embedder = Embedder::load(dir.string(), options);
  const ModelInfo& info = embedder.info();

  // The weight estimate is checked on MiniLM above: on these tiny shapes the packed layouts pad
  // by up to 10%, more than a width error would show.
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> id(5, static_cast<int32_t>(info.vocab_size) - 1);
  std::vector<std::vector<int32_t>> ids(kTexts, std::vector<int32_t>(kLength));
  for (auto& sequence : ids) {
    for (int32_t& x : sequence) x = id(rng);
  }
  auto items = embedder.prepare_token_ids(ids);
  std::vector<PreparedText*> batch;
  for (auto& item : items) batch.push_back(&item);
  embedder.embed_batch(batch);
  const double workspace =
      double(estimate_batch_memory(info, kTexts * kLength, kLength).workspace());
  EXPECT_NEAR(workspace / double(embedder.buffer_peak_bytes()), 1.0, 0.10)
      << workspace << " estimated, " << embedder.buffer_peak_bytes() << " used";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ShapedFamilies,
                         ::testing::Values("tiny-qwen3", "tiny-gemma3", "tiny-nomic-bert",
                                           "tiny-modernbert"),
                         [](const auto& param) {
                           std::string name = param.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

TEST(MemoryModel, WeightEstimateMatchesTheLoadedWeights) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  for (const Precision precision : {Precision::kF32, Precision::kBF16, Precision::kInt8}) {
    EmbedderOptions options;
    options.precision = precision;
    const ModelInfo info = Embedder::load(minilm().string(), options).info();
    if (info.precision != precision) continue;  // not on this CPU
    ASSERT_GT(info.weight_bytes, 0u);
    ModelInfo unknown = info;
    unknown.weight_bytes = 0;  // estimated from the parameter count and precision instead
    const double estimate = double(estimate_batch_memory(unknown, 1, 1).weights);
    EXPECT_NEAR(estimate / double(info.weight_bytes), 1.0, 0.03)
        << to_string(precision) << ": " << estimate << " estimated, " << info.weight_bytes
        << " loaded";
    EXPECT_EQ(estimate_batch_memory(info, 1, 1).weights, info.weight_bytes);
  }
}

TEST(MemoryModel, OptimalBatchSizeFitsTheMemoryItIsGiven) {
  EMBEDRT_REQUIRE_FIXTURE(minilm() / "model.safetensors");
  EmbedderOptions options;
  options.threads = 2;
  options.max_batch_tokens = 1u << 20;
  const ModelInfo info = Embedder::load(minilm().string(), options).info();
  const size_t available = 64u << 20;
  const size_t n = find_optimal_batch_size(info, 128, available);
  ASSERT_GT(n, 1u);
  EXPECT_LE(estimate_batch_memory(info, n * 128, 128).batch(), available);
  EXPECT_GT(estimate_batch_memory(info, (n + 1) * 128, 128).batch(), available);
  const size_t budget = find_optimal_token_budget(info, 128, available);
  EXPECT_GE(budget, n * 128);
  EXPECT_LT(budget, (n + 1) * 128);
  EXPECT_EQ(find_optimal_batch_size(info, 128, 1000), 0u);

  // The model's own token budget caps the answer when memory is plentiful.
  ModelInfo capped = info;
  capped.max_batch_tokens = 2048;
  EXPECT_EQ(find_optimal_batch_size(capped, 128, size_t{1} << 40), 16u);
  EXPECT_EQ(find_optimal_token_budget(capped, 128, size_t{1} << 40), 2048u);
  EXPECT_GT(available_memory_bytes(), 0u);
}

}  // namespace
}  // namespace embedrt
