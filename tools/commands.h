// The embedrt subcommands. Each registers its options on the app and runs when selected.
#pragma once

#include <CLI/CLI.hpp>

namespace embedrt::cli {

void add_tokenize_command(CLI::App& app);
void add_encode_command(CLI::App& app);
void add_info_command(CLI::App& app);

// Prints "warning: ..." for texts whose invalid UTF-8 was replaced.
void warn_replaced_utf8(size_t replacements, size_t texts);

}  // namespace embedrt::cli
