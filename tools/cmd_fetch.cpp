// embedrt fetch org/name[@revision]: downloads a model from the Hugging Face Hub into the Hugging
// Face cache, where `--model org/name[@revision]` finds it.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "embedrt/error.h"
#include "embedrt/system.h"
#include "engine_options.h"
#include "hub/snapshot_fetch.h"
#include "progress.h"

namespace embedrt::cli {
namespace {

struct FetchArgs {
  std::string model;
  std::vector<std::string> include;
  std::string cache_dir;
  int retries = 5;
  long timeout_s = 30;
  std::optional<bool> progress;
};

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

std::string megabytes(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f MB", double(bytes) / 1e6);
  return text;
}

void run_fetch(const FetchArgs& args) {
  hub::FetchOptions options;
  hub::split_model_id(args.model, options.repo_id, options.revision);
  options.include = args.include;
  options.cache_dir = args.cache_dir.empty() ? hf_hub_cache_dir() : args.cache_dir;
  if (const std::string endpoint = env("HF_ENDPOINT"); !endpoint.empty()) {
    options.endpoint = endpoint;
  }
  options.token = env("HF_TOKEN");
  options.retries = args.retries;
  options.stall_timeout_s = args.timeout_s;
  options.user_agent = std::string("embedrt/") + version();

  DownloadProgress progress(args.progress.value_or(stderr_is_terminal()));
  hub::FetchCallbacks callbacks;
  callbacks.progress = [&](const hub::FetchProgress& p) {
    progress.update(p.files_done, p.files_total, p.bytes_done, p.bytes_total, p.file);
  };
  callbacks.warning = [&](const std::string& message) {
    progress.finish();
    std::fprintf(stderr, "warning: %s\n", message.c_str());
  };
  const hub::FetchResult result = hub::fetch_snapshot(options, callbacks);
  progress.finish();
  std::fprintf(stderr, "%s@%s: commit %s, %zu files, %zu downloaded (%s)\n",
               options.repo_id.c_str(), options.revision.c_str(), result.commit.c_str(),
               result.files.size(), result.downloaded_files,
               megabytes(result.downloaded_bytes).c_str());
  std::printf("%s\n", result.snapshot.string().c_str());
}

}  // namespace

void add_fetch_command(CLI::App& app) {
  auto args = std::make_shared<FetchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "fetch",
      "Download a model from the Hugging Face Hub (HF_ENDPOINT, HF_TOKEN) into the Hugging Face "
      "cache; prints the snapshot folder");
  cmd->add_option("model", args->model, "org/name[@revision] (a branch, tag or commit)")
      ->required();
  cmd->add_option("--include", args->include,
                  "Fetch only the files matching these globs (as huggingface_hub's "
                  "allow_patterns; '*' also matches '/'); repeat for more; default: what "
                  "embedrt reads")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--cache-dir", args->cache_dir,
                  "The Hugging Face hub cache (default: HF_HUB_CACHE, else HF_HOME/hub, else "
                  "~/.cache/huggingface/hub)");
  cmd->add_option("--retries", args->retries,
                  "Attempts after a failed request or broken download (resumed), per file")
      ->check(CLI::Range(0, 100));
  cmd->add_option("--timeout", args->timeout_s,
                  "Seconds without data before a connection is given up (then retried)")
      ->check(CLI::Range(1, 3600));
  add_tristate_flag(cmd, "--progress", "--no-progress", args->progress,
                    "Show progress on standard error (default: on a terminal)");
  cmd->callback([args] { run_fetch(*args); });
}

}  // namespace embedrt::cli
