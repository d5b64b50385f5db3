#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "embedrt/embedder.h"
#include "embedrt/error.h"
#include "embedrt/tuning.h"
#include "text_input.h"

namespace embedrt::cli {
namespace {

struct TuneArgs {
  std::string model;
  std::string input;
  InputFormat input_format = InputFormat::kLines;
  size_t max_texts = 2000;
  std::string output;
  TuneOptions options;
  std::string precision;
  bool nondeterministic = false;
};

// "12,345" reads better than "12345" in a table of throughputs.
std::string grouped(double value) {
  std::string digits = std::to_string(static_cast<long long>(value + 0.5));
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(i, ",");
  return digits;
}

void print_row(size_t index, const TunePoint& p) {
  std::printf("%3zu %7d %6zu %7zu | %7zu %9.1f %9s %9.1f %9.1f %7.1f", index, p.threads,
              p.batch_size, p.max_batch_tokens, p.batches_run, p.texts_per_second,
              grouped(p.tokens_per_second).c_str(), p.p50_batch_ms, p.p90_batch_ms,
              static_cast<double>(p.estimated_bytes) / (1 << 20));
  if (p.same_batches_as) std::printf("  same batches as %zu", *p.same_batches_as);
  std::printf("\n");
  std::fflush(stdout);
}

void run_tune(TuneArgs& args) {
  if (!args.precision.empty()) args.options.precision = parse_precision(args.precision);
  args.options.deterministic = !args.nondeterministic;

  std::vector<std::string> texts;
  if (!args.input.empty()) {
    TextReader reader(args.input, args.input_format);
    reader.read_batch(texts, args.max_texts);
    if (texts.empty()) {
      throw Error(ErrorCode::kInvalidArgument, args.input + ": no texts to tune on");
    }
  }
  // Resolved before the minutes of measuring, so a missing EMBEDRT_HOME and HOME fail fast.
  const std::filesystem::path output =
      args.output.empty() ? default_tuning_path(args.model) : std::filesystem::path(args.output);

  std::printf("%3s %7s %6s %7s | %7s %9s %9s %9s %9s %7s\n", "#", "threads", "batch", "tokens",
              "batches", "texts/s", "tokens/s", "p50 ms", "p90 ms", "est MB");
  size_t index = 0;
  TuneResult result =
      tune(args.model, texts, args.options, [&](const TunePoint& p) { print_row(index++, p); });
  if (!args.input.empty()) {
    result.workload = args.input + ": " + result.workload;
  }
  const TunePoint& best = result.points[result.best];
  std::printf(
      "\nmodel %s, %s, %s, on %s (%d cores)\n"
      "workload %s: %zu texts, %s tokens (median %zu, longest %zu); model batches only, "
      "%.1f s per point\n",
      result.model.c_str(), result.precision.c_str(),
      result.deterministic ? "deterministic" : "not deterministic", result.cpu.c_str(),
      result.cpu_count, result.workload.c_str(), result.texts,
      grouped(static_cast<double>(result.tokens)).c_str(), result.median_tokens, result.max_tokens,
      result.seconds_per_point);
  if (result.target_latency_ms && best.p90_batch_ms > *result.target_latency_ms) {
    std::printf("no point meets the %.1f ms target; taking the lowest p90 latency\n",
                *result.target_latency_ms);
  }
  std::printf(
      "best (#%zu): threads %d, batch size %zu, token budget %zu: %.1f texts/s, %s tokens/s, "
      "p50 %.1f ms\n",
      result.best, best.threads, best.batch_size, best.max_batch_tokens, best.texts_per_second,
      grouped(best.tokens_per_second).c_str(), best.p50_batch_ms);
  write_tuning_file(result, output);
  std::printf("wrote %s\n", output.string().c_str());
}

}  // namespace

void add_tune_command(CLI::App& app) {
  auto args = std::make_shared<TuneArgs>();
  CLI::App* cmd = app.add_subcommand(
      "tune",
      "Measure batch settings on this machine and write the fastest to a tuning file that "
      "encode and serve read");
  cmd->add_option("--model,-m", args->model,
                  "Model folder, or a model name under $EMBEDRT_HOME/models")
      ->required();
  cmd->add_option("--input,-i", args->input,
                  "Texts whose length distribution to tune for (default: a synthetic one, "
                  "log-normal token lengths with median 32)");
  cmd->add_option("--input-format", args->input_format, "lines or jsonl")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, InputFormat>{{"lines", InputFormat::kLines},
                                             {"jsonl", InputFormat::kJsonl}},
          CLI::ignore_case));
  cmd->add_option("--max-texts", args->max_texts, "Texts read from --input at most")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--texts", args->options.synthetic_texts, "Texts in the synthetic workload")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--threads-grid", args->options.threads,
                  "Thread counts to try, comma-separated (default: 1 and all cores)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  cmd->add_option("--budgets-grid", args->options.token_budgets,
                  "Token budgets to try, comma-separated (default: 512,2048,8192)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch-sizes-grid", args->options.batch_sizes,
                  "Batch sizes (texts) to try, comma-separated (default: 16,64,256)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seconds-per-point", args->options.seconds_per_point,
                  "Seconds of batches measured per grid point")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--target-latency-ms", args->options.target_latency_ms,
                  "Choose the fastest point whose p90 batch latency meets this")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--precision", args->precision, "Matmul precision: fp32, bf16 or int8")
      ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
  cmd->add_flag("--no-deterministic", args->nondeterministic, "Tune for encode --no-deterministic");
  cmd->add_option("--max-length", args->options.max_length,
                  "Maximum tokens per text (default: the model's limit)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", args->options.seed, "Seed of the synthetic workload")
      ->capture_default_str();
  cmd->add_option("--output,-o", args->output,
                  "Tuning file to write (default: $EMBEDRT_HOME/tuning/<model>.json)");
  cmd->callback([args] { run_tune(*args); });
}

}  // namespace embedrt::cli
