#include <map>
#include <string>

#include "commands.h"

namespace embedrt::cli {

void add_max_length_option(CLI::App* cmd, size_t& max_length) {
  cmd->add_option("--max-length", max_length,
                  "Maximum tokens per text including special tokens (default: the model's "
                  "max_seq_length; at most its max_position_embeddings)")
      ->check(CLI::PositiveNumber);
}

void add_text_command_options(CLI::App* cmd, TextCommandArgs& args) {
  cmd->add_option("--model,-m", args.model,
                  "Model folder, a model name under $EMBEDRT_HOME/models, or a Hugging Face id "
                  "org/name[@revision] in the local Hugging Face cache")
      ->required();
  cmd->add_option("--input,-i", args.input, "Input file, '-' for standard input")
      ->capture_default_str();
  cmd->add_option("--output,-o", args.output, "Output file, '-' for standard output")
      ->capture_default_str();
  cmd->add_option("--input-format", args.input_format,
                  "lines (texts separated by newlines) or jsonl (a JSON string or an object with "
                  "a \"text\" field per line)")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, InputFormat>{{"lines", InputFormat::kLines},
                                             {"jsonl", InputFormat::kJsonl}},
          CLI::ignore_case));
}

}  // namespace embedrt::cli
