// embedrt: sentence embeddings from the command line.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>

#include "commands.h"
#include "embedrt/error.h"
#include "embedrt/system.h"

int main(int argc, char** argv) {
  CLI::App app{"embedrt: fast sentence embeddings on the CPU", "embedrt"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("embedrt ") + embedrt::version());
  embedrt::cli::add_tokenize_command(app);
  embedrt::cli::add_encode_command(app);
  embedrt::cli::add_info_command(app);
  embedrt::cli::add_tune_command(app);
  embedrt::cli::add_serve_command(app);
  embedrt::cli::add_rerank_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  } catch (const embedrt::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
