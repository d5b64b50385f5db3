#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
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
  bool child = false;  // measuring one thread count for a parent `embedrt tune`
};

// "12,345" reads better than "12345" in a table of throughputs.
std::string grouped(double value) {
  const std::string digits = std::to_string(static_cast<long long>(value + 0.5));
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

void print_row(size_t index, const TunePoint& p) {
  // The header waits for the first row, so a run that fails at load prints only its error.
  if (index == 0) {
    std::printf("%3s %7s %6s %7s | %7s %9s %9s %9s %9s %7s\n", "#", "threads", "batch", "tokens",
                "batches", "texts/s", "tokens/s", "p50 ms", "p90 ms", "est MB");
  }
  std::printf("%3zu %7d %6zu %7zu | %7zu %9.1f %9s %9.1f %9.1f %7.1f", index, p.threads,
              p.batch_size, p.max_batch_tokens, p.batches_run, p.texts_per_second,
              grouped(p.tokens_per_second).c_str(), p.p50_batch_ms, p.p90_batch_ms,
              static_cast<double>(p.estimated_bytes) / (1 << 20));
  if (p.same_batches_as) std::printf("  same batches as %zu", *p.same_batches_as);
  std::printf("\n");
  std::fflush(stdout);
}

std::string join(const auto& values) {
  std::string out;
  for (const auto& v : values) {
    if (!out.empty()) out += ',';
    out += std::to_string(v);
  }
  return out;
}

// Measures one thread count in a child process (this program, run as `tune --child`) and
// returns what it wrote. A process per thread count keeps the kernels one count chose (oneDNN
// fixes a primitive's threads when it creates it) from serving the next.
TuneResult measure_in_child(const TuneArgs& args, int threads) {
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  const std::filesystem::path output = std::filesystem::temp_directory_path() /
                                       (std::string("embedrt-tune-") + std::to_string(::getpid()) +
                                        "-" + std::to_string(threads) + ".json");
  std::vector<std::string> argv = {self.string(),
                                   "tune",
                                   "--child",
                                   "--model",
                                   args.model,
                                   "--threads-grid",
                                   std::to_string(threads),
                                   "--seconds-per-point",
                                   std::to_string(args.options.seconds_per_point),
                                   "--texts",
                                   std::to_string(args.options.synthetic_texts),
                                   "--seed",
                                   std::to_string(args.options.seed),
                                   "--output",
                                   output.string()};
  const auto add = [&](const char* flag, const std::string& value) {
    argv.push_back(flag);
    argv.push_back(value);
  };
  if (!args.input.empty()) {
    add("--input", args.input);
    add("--input-format", args.input_format == InputFormat::kJsonl ? "jsonl" : "lines");
    add("--max-texts", std::to_string(args.max_texts));
  }
  if (!args.options.token_budgets.empty()) add("--budgets-grid", join(args.options.token_budgets));
  if (!args.options.batch_sizes.empty()) add("--batch-sizes-grid", join(args.options.batch_sizes));
  if (args.options.target_latency_ms) {
    add("--target-latency-ms", std::to_string(*args.options.target_latency_ms));
  }
  if (!args.precision.empty()) add("--precision", args.precision);
  if (args.nondeterministic) argv.push_back("--no-deterministic");
  if (args.options.max_length > 0) add("--max-length", std::to_string(args.options.max_length));

  std::vector<char*> c_argv;
  for (std::string& a : argv) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid < 0) throw Error(ErrorCode::kInternal, "cannot start a measuring process");
  if (pid == 0) {
    ::execv(c_argv[0], c_argv.data());
    std::_Exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::filesystem::remove(output);
    // The child has printed its own one-line error; exit as it did.
    std::exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
  }
  TuneResult result = read_tuning_file(output);
  std::filesystem::remove(output);
  return result;
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

  if (args.child) {
    write_tuning_file(tune(args.model, texts, args.options), output);
    return;
  }
  std::vector<int> thread_grid = args.options.threads;
  if (thread_grid.empty()) {
    const int cores = available_cores();
    thread_grid = cores > 1 ? std::vector<int>{1, cores} : std::vector<int>{1};
  }
  TuneResult result;
  for (const int threads : thread_grid) {
    TuneResult part;
    if (thread_grid.size() == 1) {
      size_t index = 0;
      part =
          tune(args.model, texts, args.options, [&](const TunePoint& p) { print_row(index++, p); });
    } else {
      part = measure_in_child(args, threads);
      for (size_t i = 0; i < part.points.size(); ++i) {
        TunePoint& p = part.points[i];
        if (p.same_batches_as) *p.same_batches_as += result.points.size();
        print_row(result.points.size() + i, p);
      }
    }
    if (result.points.empty()) {
      result = std::move(part);
    } else {
      result.points.insert(result.points.end(), part.points.begin(), part.points.end());
    }
  }
  result.best = best_tune_point(result.points, args.options.target_latency_ms);
  if (!args.input.empty()) {
    result.workload = args.input + ": " + std::to_string(result.texts) + " texts";
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
                  "Model folder, a model name under $EMBEDRT_HOME/models, or a Hugging Face id "
                  "org/name[@revision] in the local Hugging Face cache")
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
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  cmd->add_option("--texts", args->options.synthetic_texts, "Texts in the synthetic workload")
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  cmd->add_option("--threads-grid", args->options.threads,
                  "Thread counts to try, comma-separated (default: 1 and all cores)")
      ->delimiter(',')
      ->check(CLI::Range(1, 1 << 24));
  cmd->add_option("--budgets-grid", args->options.token_budgets,
                  "Token budgets to try, comma-separated (default: 256,1024,4096)")
      ->delimiter(',')
      ->check(CLI::Range(1, 1 << 24));
  cmd->add_option("--batch-sizes-grid", args->options.batch_sizes,
                  "Batch sizes (texts) to try, comma-separated (default: 32,128)")
      ->delimiter(',')
      ->check(CLI::Range(1, 1 << 24));
  cmd->add_option("--seconds-per-point", args->options.seconds_per_point,
                  "Seconds of batches measured per grid point")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();
  cmd->add_option("--target-latency-ms", args->options.target_latency_ms,
                  "Choose the fastest point whose p90 batch latency meets this")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--precision", args->precision, "Matmul precision: fp32, bf16 or int8")
      ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
  cmd->add_flag("--no-deterministic", args->nondeterministic, "Tune for encode --no-deterministic");
  add_max_length_option(cmd, args->options.max_length);
  cmd->add_option("--seed", args->options.seed, "Seed of the synthetic workload")
      ->capture_default_str();
  cmd->add_option("--output,-o", args->output,
                  "Tuning file to write (default: $EMBEDRT_HOME/tuning/<model>.json)");
  cmd->add_flag("--child", args->child, "Measure for a parent tune process (internal)")->group("");
  cmd->callback([args] { run_tune(*args); });
}

}  // namespace embedrt::cli
