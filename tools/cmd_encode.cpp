#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "embedding_writer.h"
#include "embedrt/embedder.h"
#include "embedrt/error.h"
#include "embedrt/profile.h"
#include "engine_options.h"
#include "output_file.h"
#include "progress.h"
#include "text_input.h"

namespace embedrt::cli {
namespace {

// Texts read and encoded per step: large enough to batch by length well, small enough to keep
// memory flat on huge inputs.
constexpr size_t kTextsPerStep = 8192;
// With a progress bar, smaller steps so that it moves; results are the same (batch invariance).
constexpr size_t kTextsPerProgressStep = 512;
// Inputs larger than this get a progress bar when standard error is a terminal.
constexpr size_t kProgressMinBytes = 1 << 20;

struct EncodeArgs {
  TextCommandArgs io;
  EngineArgs engine;
  OutputFormat format = OutputFormat::kJsonl;
  std::string prompt;
  std::string prompt_name;
  std::optional<bool> progress;
  OverflowPolicy on_overflow = OverflowPolicy::kTruncate;
  bool profile = false;
  std::string profile_json;
};

void run_encode(const EncodeArgs& args) {
  if (!args.prompt.empty() && !args.prompt_name.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "--prompt and --prompt-name are mutually exclusive");
  }
  EmbedderOptions options = to_embedder_options(args.engine);
  options.on_overflow = args.on_overflow;
  if (const auto note = apply_tuning_file(args.io.model, args.engine, options)) {
    std::fprintf(stderr, "note: %s\n", note->c_str());
  }
  const Embedder embedder = Embedder::load(args.io.model, options);
  for (const std::string& warning : embedder.info().warnings) {
    std::fprintf(stderr, "warning: %s\n", warning.c_str());
  }

  EncodeOptions encode_options;
  encode_options.prompt = args.prompt;
  encode_options.prompt_name = args.prompt_name;
  encode_options.profile = args.profile || !args.profile_json.empty();
  EncodeProfile profile;

  TextReader reader(args.io.input, args.io.input_format);
  OutputFile output(args.io.output);
  auto writer = make_embedding_writer(args.format, output);
  const bool show_progress = args.progress.value_or(
      stderr_is_terminal() && (reader.size_hint() == 0 || reader.size_hint() >= kProgressMinBytes));
  Progress progress(show_progress, reader.size_hint());

  std::vector<std::string> texts;
  size_t done = 0, replacements = 0, truncated = 0;
  while (true) {
    texts.clear();
    if (!reader.read_batch(texts, show_progress ? kTextsPerProgressStep : kTextsPerStep)) break;
    encode_options.first_index = done;
    const Embeddings embeddings = embedder.encode(texts, encode_options);
    writer->write_rows(embeddings.values, embeddings.rows, embeddings.dimension);
    if (embeddings.profile) profile += *embeddings.profile;
    done += texts.size();
    replacements += embeddings.replaced_invalid_utf8;
    truncated += embeddings.truncated_texts;
    progress.update(done, reader.bytes_read());
  }
  if (done == 0) {
    // An empty input still yields a well-formed (empty) output of the model's dimension.
    writer->write_rows({}, 0, embedder.info().dimension);
  }
  writer->finish();
  progress.finish();
  if (replacements > 0) {
    std::fprintf(stderr, "warning: replaced %zu invalid UTF-8 sequence(s) with U+FFFD\n",
                 replacements);
  }
  if (truncated > 0 && show_progress) {
    std::fprintf(stderr, "note: %zu text(s) were truncated to %zu tokens\n", truncated,
                 embedder.info().max_length);
  }
  if (encode_options.profile) {
    profile.precision = embedder.info().compute_dtype;
    profile.memory_peak_mb = double(process_peak_rss_bytes()) / (1024.0 * 1024.0);
    if (args.profile) std::fputs(format_profile_table(profile).c_str(), stderr);
    if (!args.profile_json.empty()) {
      OutputFile json_file(args.profile_json);
      json_file.write(format_profile_json(profile) + "\n");
      json_file.commit();
    }
  }
}

}  // namespace

void add_encode_command(CLI::App& app) {
  auto args = std::make_shared<EncodeArgs>();
  CLI::App* cmd = app.add_subcommand("encode", "Write one embedding per input text");
  add_text_command_options(cmd, args->io);
  cmd->add_option("--format,-f", args->format, "jsonl, npy or tsv")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, OutputFormat>{{"jsonl", OutputFormat::kJsonl},
                                              {"npy", OutputFormat::kNpy},
                                              {"tsv", OutputFormat::kTsv}},
          CLI::ignore_case));
  add_engine_options(cmd, args->engine);
  cmd->add_option("--prompt", args->prompt, "Text prepended to every input");
  cmd->add_option("--prompt-name", args->prompt_name,
                  "A prompt named in config_sentence_transformers.json");
  add_tristate_flag(cmd, "--progress", "--no-progress", args->progress,
                    "Show a progress bar on standard error (default: for large inputs on a "
                    "terminal)");
  cmd->add_option("--on-overflow", args->on_overflow,
                  "What to do with a text longer than the maximum length: truncate or error")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, OverflowPolicy>{{"truncate", OverflowPolicy::kTruncate},
                                                {"error", OverflowPolicy::kError}},
          CLI::ignore_case));
  cmd->add_flag("--profile", args->profile,
                "Print where time and memory went (per stage and per encoder op) to stderr");
  cmd->add_option("--profile-json", args->profile_json,
                  "Write the profile as a JSON object to this file");
  cmd->callback([args] { run_encode(*args); });
}

}  // namespace embedrt::cli
