#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "embedding_writer.h"
#include "embedrt/embedder.h"
#include "embedrt/error.h"
#include "embedrt/model_kind.h"
#include "embedrt/profile.h"
#include "embedrt/quantization.h"
#include "embedrt/sparse_encoder.h"
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
  std::string output_precision = "float32";
  std::string calibration;          // .npy of calibration embeddings [N, D]
  std::string quantization_ranges;  // .npy of ranges [2, D]
  bool calibrate_on_input = false;  // ranges of this run's own embeddings
  std::string save_ranges;          // where to write the ranges used
  size_t top_k = 0;                 // sparse models: keep the K largest values
};

// A SPLADE model (SparseEncoder folder): one {"indices": [...], "values": [...]} line per text,
// as SparseEncoder.encode gives the non-zero entries. Options that shape dense output are errors.
void run_encode_sparse(const EncodeArgs& args) {
  const auto reject = [](bool given, const std::string& option) {
    if (given) {
      throw Error(ErrorCode::kInvalidArgument,
                  option +
                      " does not apply to a sparse (SPLADE) model, which writes jsonl of "
                      "indices and values");
    }
  };
  reject(args.format != OutputFormat::kJsonl,
         std::string("--format ") + (args.format == OutputFormat::kNpy ? "npy" : "tsv"));
  reject(args.output_precision != "float32", "--output-precision " + args.output_precision);
  reject(!args.calibration.empty(), "--calibration");
  reject(!args.quantization_ranges.empty(), "--quantization-ranges");
  reject(args.calibrate_on_input, "--calibrate-on-input");
  reject(!args.save_ranges.empty(), "--save-ranges");
  reject(!args.prompt_name.empty(), "--prompt-name");
  reject(args.on_overflow == OverflowPolicy::kError, "--on-overflow error");
  reject(args.profile || !args.profile_json.empty(), "--profile");
  reject(!args.engine.pooling.empty(), "--pooling");
  reject(args.engine.normalize.has_value(), "--normalize");
  reject(args.engine.dimensions.has_value(), "--dimensions");

  const SparseEncoder encoder =
      SparseEncoder::load(args.io.model, to_embedder_options(args.engine));
  TextReader reader(args.io.input, args.io.input_format);
  OutputFile output(args.io.output);
  std::vector<std::string> texts;
  std::string out;
  while (true) {
    texts.clear();
    if (!reader.read_batch(texts, kTextsPerStep)) break;
    out.clear();
    for (const SparseVector& v : encoder.encode(texts, args.top_k, args.prompt)) {
      out += "{\"indices\":[";
      for (size_t k = 0; k < v.indices.size(); ++k) {
        if (k > 0) out += ',';
        out += std::to_string(v.indices[k]);
      }
      out += "],\"values\":[";
      for (size_t k = 0; k < v.values.size(); ++k) {
        if (k > 0) out += ',';
        append_float(out, v.values[k]);
      }
      out += "]}\n";
    }
    output.write(out);
  }
  output.commit();
}

// The int8/uint8 ranges the options name (empty when they name none).
QuantizationRanges ranges_from_files(const EncodeArgs& args, OutputPrecision precision) {
  const int sources = int(!args.calibration.empty()) + int(!args.quantization_ranges.empty()) +
                      int(args.calibrate_on_input);
  if (sources > 1) {
    throw Error(ErrorCode::kInvalidArgument,
                "--calibration, --quantization-ranges and --calibrate-on-input are mutually "
                "exclusive");
  }
  const bool scalar = precision == OutputPrecision::kInt8 || precision == OutputPrecision::kUint8;
  if (scalar && sources == 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "--output-precision " + args.output_precision +
                    " needs ranges: --calibration FILE.npy, --quantization-ranges FILE.npy or "
                    "--calibrate-on-input");
  }
  if (!scalar && (sources > 0 || !args.save_ranges.empty())) {
    throw Error(ErrorCode::kInvalidArgument,
                "calibration options apply to --output-precision int8 and uint8 only");
  }
  if (!args.calibration.empty()) return load_quantization_ranges(args.calibration, false);
  if (!args.quantization_ranges.empty()) {
    return load_quantization_ranges(args.quantization_ranges, true);
  }
  return {};
}

void run_encode(const EncodeArgs& args) {
  if (detect_model_kind(args.io.model) == ModelKind::kSparse) return run_encode_sparse(args);
  if (args.top_k > 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "--top-k applies to sparse (SPLADE) models only; this one gives dense embeddings");
  }
  if (!args.prompt.empty() && !args.prompt_name.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "--prompt and --prompt-name are mutually exclusive");
  }
  const OutputPrecision precision = parse_output_precision(args.output_precision);
  QuantizationRanges ranges = ranges_from_files(args, precision);
  EmbedderOptions options = to_embedder_options(args.engine);
  options.on_overflow = args.on_overflow;
  if (const auto note = apply_tuning_file(args.io.model, args.engine, options)) {
    std::fprintf(stderr, "note: %s\n", note->c_str());
  }
  const Embedder embedder = Embedder::load(args.io.model, options);
  for (const std::string& warning : embedder.info().warnings) {
    std::fprintf(stderr, "warning: %s\n", warning.c_str());
  }
  const size_t dimension = embedder.info().dimension;
  if (!ranges.empty() && ranges.dimension() != dimension) {
    const std::string& file =
        args.calibration.empty() ? args.quantization_ranges : args.calibration;
    throw Error(ErrorCode::kInvalidArgument,
                file + ": ranges for " + std::to_string(ranges.dimension()) +
                    " dimensions, but the embeddings have " + std::to_string(dimension));
  }

  EncodeOptions encode_options;
  encode_options.prompt = args.prompt;
  encode_options.prompt_name = args.prompt_name;
  encode_options.profile = args.profile || !args.profile_json.empty();
  EncodeProfile profile;

  TextReader reader(args.io.input, args.io.input_format);
  OutputFile output(args.io.output);
  auto writer = make_embedding_writer(args.format, output, precision, &ranges);
  // --calibrate-on-input: the ranges need every embedding, so rows wait for the end.
  std::vector<float> held;
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
    if (args.calibrate_on_input) {
      held.insert(held.end(), embeddings.values.begin(), embeddings.values.end());
    } else {
      writer->write_rows(embeddings.values, embeddings.rows, embeddings.dimension);
    }
    if (embeddings.profile) profile += *embeddings.profile;
    done += texts.size();
    replacements += embeddings.replaced_invalid_utf8;
    truncated += embeddings.truncated_texts;
    progress.update(done, reader.bytes_read());
  }
  if (args.calibrate_on_input && done > 0) {
    ranges = calibration_ranges(held, done, dimension);
    writer->write_rows(held, done, dimension);
  }
  if (done == 0) {
    // An empty input still yields a well-formed (empty) output of the model's dimension.
    writer->write_rows({}, 0, dimension);
  }
  if (!args.save_ranges.empty() && !ranges.empty())
    save_quantization_ranges(ranges, args.save_ranges);
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
  CLI::App* cmd = app.add_subcommand(
      "encode",
      "Write one embedding per input text (a SPLADE model: JSON lines of indices and values)");
  add_text_command_options(cmd, args->io);
  cmd->add_option("--format,-f", args->format, "jsonl, npy or tsv")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, OutputFormat>{{"jsonl", OutputFormat::kJsonl},
                                              {"npy", OutputFormat::kNpy},
                                              {"tsv", OutputFormat::kTsv}},
          CLI::ignore_case));
  add_engine_options(cmd, args->engine);
  cmd->add_option("--output-precision", args->output_precision,
                  "float32 (default), int8, uint8, binary or ubinary, as sentence-transformers' "
                  "quantize_embeddings (binary ones pack 8 dimensions per byte)")
      ->check(CLI::IsMember({"float32", "int8", "uint8", "binary", "ubinary"}));
  cmd->add_option("--calibration", args->calibration,
                  "int8/uint8: a .npy of float embeddings [N, D] whose per-dimension min/max "
                  "are the quantization ranges");
  cmd->add_option("--quantization-ranges", args->quantization_ranges,
                  "int8/uint8: a .npy [2, D] of ranges (row 0 minimum, row 1 maximum)");
  cmd->add_flag("--calibrate-on-input", args->calibrate_on_input,
                "int8/uint8: ranges from this run's own embeddings, as quantize_embeddings "
                "does over the whole list (holds every embedding until the end)");
  cmd->add_option("--save-ranges", args->save_ranges,
                  "int8/uint8: write the ranges used as a .npy [2, D] for later runs and serve");
  cmd->add_option("--top-k", args->top_k,
                  "Sparse (SPLADE) models: keep each vector's K largest values (0 = all)");
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
