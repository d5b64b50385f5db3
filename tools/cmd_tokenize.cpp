#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "embedrt/text_tokenizer.h"
#include "output_file.h"
#include "text_input.h"

namespace embedrt::cli {
namespace {

struct TokenizeArgs {
  TextCommandArgs io;
  size_t max_length = 0;
  int threads = 0;
  bool raw = false;
};

void run_tokenize(const TokenizeArgs& args) {
  TextTokenizerOptions options;
  options.raw = args.raw;
  options.max_length = args.max_length;
  options.threads = args.threads;
  const TextTokenizer tokenizer = TextTokenizer::load(args.io.model, options);

  TextReader reader(args.io.input, args.io.input_format);
  OutputFile output(args.io.output);
  std::vector<std::string> texts;
  size_t replacements = 0, texts_with_replacements = 0;
  std::string line;
  while (true) {
    texts.clear();
    if (!reader.read_batch(texts, 4096)) break;
    const auto encodings = tokenizer.tokenize_batch(texts);
    std::string out;
    for (const Encoding& encoding : encodings) {
      out.push_back('[');
      for (size_t i = 0; i < encoding.ids.size(); ++i) {
        if (i > 0) out.push_back(',');
        out += std::to_string(encoding.ids[i]);
      }
      out += "]\n";
      replacements += encoding.replaced_invalid_utf8;
      texts_with_replacements += encoding.replaced_invalid_utf8 > 0;
    }
    output.write(out);
  }
  output.commit();
  warn_replaced_utf8(replacements, texts_with_replacements);
}

}  // namespace

void warn_replaced_utf8(size_t replacements, size_t texts) {
  if (replacements == 0) return;
  std::fprintf(stderr,
               "warning: replaced %zu invalid UTF-8 sequence(s) in %zu text(s) with U+FFFD\n",
               replacements, texts);
}

void add_tokenize_command(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize",
      "Write the token ids of each text as a JSON array per line, special tokens "
      "included, after the preprocessing and truncation encode applies");
  add_text_command_options(cmd, args->io);
  add_max_length_option(cmd, args->max_length);
  cmd->add_option("--threads", args->threads, "Tokenizer threads (0 = all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--raw", args->raw,
                "Apply tokenizer.json alone: no stripping or lowercasing, its own truncation");
  cmd->callback([args] { run_tokenize(*args); });
}

}  // namespace embedrt::cli
