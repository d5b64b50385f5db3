// The embedrt subcommands. Each registers its options on the app and runs when selected.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "text_input.h"

namespace embedrt::cli {

void add_tokenize_command(CLI::App& app);
void add_encode_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_tune_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_rerank_command(CLI::App& app);

// The options every text-reading command shares: the model and where texts come from and go.
struct TextCommandArgs {
  std::string model;
  std::string input = "-";
  std::string output = "-";
  InputFormat input_format = InputFormat::kLines;
};
void add_text_command_options(CLI::App* cmd, TextCommandArgs& args);

// --max-length: tokens per text including special tokens, from the model's max_seq_length (0) up
// to its max_position_embeddings. tokenize, encode, serve and tune share it.
void add_max_length_option(CLI::App* cmd, size_t& max_length);

// Prints "warning: ..." for texts whose invalid UTF-8 was replaced.
void warn_replaced_utf8(size_t replacements, size_t texts);

}  // namespace embedrt::cli
