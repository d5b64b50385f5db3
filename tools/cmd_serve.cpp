// embedrt serve: the OpenAI- and TEI-compatible HTTP server.
#include <pthread.h>
#include <signal.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "commands.h"
#include "embedrt/embedder.h"
#include "embedrt/error.h"
#include "embedrt/quantization.h"
#include "server/server.h"

namespace embedrt::cli {
namespace {

struct ServeArgs {
  server::ServerOptions options;
  std::string optimize = "balanced";
  std::string precision;
  std::optional<size_t> cache_mb;
  bool nondeterministic = false;
  std::optional<size_t> dimensions;
  std::string calibration;
  std::string quantization_ranges;
  double read_timeout_s = 30;
  double write_timeout_s = 30;
  double keep_alive_timeout_s = 5;
  double shutdown_timeout_s = 30;
};

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// Waits for SIGINT/SIGTERM (blocked in every thread, so they arrive here only); a second signal
// during the graceful stop ends the process at once.
int wait_for_signal(const sigset_t& signals) {
  int signal_number = 0;
  while (sigwait(&signals, &signal_number) != 0) {
  }
  return signal_number;
}

void run_serve(ServeArgs& args) {
  server::ServerOptions& options = args.options;
  options.engine.optimize = parse_optimize_mode(args.optimize);
  if (!args.precision.empty()) options.engine.precision = parse_precision(args.precision);
  if (args.cache_mb) options.engine.cache_bytes = *args.cache_mb << 20;
  if (args.nondeterministic) options.engine.deterministic = false;
  options.engine.dimensions = args.dimensions;
  if (!args.calibration.empty() && !args.quantization_ranges.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "--calibration and --quantization-ranges are mutually exclusive");
  }
  if (!args.calibration.empty()) {
    options.quantization_ranges = load_quantization_ranges(args.calibration, false);
  } else if (!args.quantization_ranges.empty()) {
    options.quantization_ranges = load_quantization_ranges(args.quantization_ranges, true);
  }
  // Over-long inputs are the server's to reject (422 naming the index) or truncate.
  options.engine.on_overflow = OverflowPolicy::kTruncate;
  options.transport.read_timeout = to_ms(args.read_timeout_s);
  options.transport.write_timeout = to_ms(args.write_timeout_s);
  options.transport.keep_alive_timeout = to_ms(args.keep_alive_timeout_s);
  options.transport.max_connections = 2 * options.max_concurrent_requests + 16;
  options.shutdown_timeout = to_ms(args.shutdown_timeout_s);

  // Blocked before any thread starts, so every thread (OpenMP's too) inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

#ifdef __GLIBC__
  // Fixed thresholds (glibc otherwise raises them after each large free, up to 32 MB for mmap and
  // 64 MB for trimming): blocks of 4 MiB and more are mapped and unmapped, and a thread arena's
  // free top is returned above 128 KiB, so that memory a large request took goes back to the
  // system. The model's activations live in reused workspaces and do not churn.
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 10);
#endif

  server::EmbeddingServer server(options);
  const int port = server.bind();
  server.start();
  std::fprintf(stderr, "embedrt: listening on http://%s:%d (loading %s)\n", options.host.c_str(),
               port, options.model.c_str());

  std::atomic<bool> stopping{false};
  std::thread signal_thread([&] {
    const int first = wait_for_signal(signals);
    stopping = true;
    if (!server.ready()) {
      std::fprintf(stderr, "embedrt: %s while loading the model; exiting\n", strsignal(first));
      std::_Exit(0);
    }
    std::fprintf(stderr, "embedrt: %s: finishing requests in flight\n", strsignal(first));
    if (!server.shutdown()) {
      std::fprintf(stderr, "embedrt: requests still running after %.0f s; exiting\n",
                   args.shutdown_timeout_s);
      std::_Exit(0);
    }
    std::fprintf(stderr, "embedrt: stopped\n");
    std::fflush(stderr);
    std::_Exit(0);
  });
  signal_thread.detach();

  const auto load_start = std::chrono::steady_clock::now();
  try {
    server.load_model();
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    std::fflush(stderr);
    std::_Exit(1);  // threads are running; no orderly unwinding needed for a failed start
  }
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  std::fprintf(stderr, "embedrt: model loaded in %.2f s; ready\n", load_s);

  // The signal thread ends the process; this thread only keeps the server alive.
  while (true) std::this_thread::sleep_for(std::chrono::hours(1));
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  server::ServerOptions& o = args->options;
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Serve a model over HTTP: embeddings (OpenAI /v1/embeddings, TEI /embed), rerankers "
      "(/rerank, /v1/rerank, /predict) or SPLADE (/embed_sparse)");
  cmd->add_option("--model,-m", o.model,
                  "Model folder, a model name under $EMBEDRT_HOME/models, or a Hugging Face id "
                  "org/name[@revision] in the local Hugging Face cache")
      ->envname("EMBEDRT_MODEL")
      ->required();
  cmd->add_option("--host", o.host, "Address to listen on")
      ->envname("EMBEDRT_HOST")
      ->capture_default_str();
  cmd->add_option("--port", o.port, "Port to listen on (0 = any free port)")
      ->envname("EMBEDRT_PORT")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--threads", o.engine.threads, "Model threads (0 = all cores)")
      ->envname("EMBEDRT_THREADS")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--optimize", args->optimize, "balanced, throughput, latency or memory")
      ->envname("EMBEDRT_OPTIMIZE")
      ->check(CLI::IsMember({"balanced", "throughput", "latency", "memory"}))
      ->capture_default_str();
  cmd->add_option("--precision", args->precision, "fp32, bf16 or int8 (default: the mode's)")
      ->envname("EMBEDRT_PRECISION")
      ->check(CLI::IsMember({"fp32", "f32", "bf16", "int8"}));
  cmd->add_option("--api-key", o.api_key,
                  "Require 'Authorization: Bearer KEY' on every route but /health")
      ->envname("EMBEDRT_API_KEY");
  cmd->add_option("--max-batch-tokens", o.max_batch_tokens,
                  "Tokens per model batch (0 = the optimize mode's, adaptive in throughput mode "
                  "or with --target-batch-ms)")
      ->envname("EMBEDRT_MAX_BATCH_TOKENS")
      ->capture_default_str();
  cmd->add_option("--target-batch-ms", o.target_batch_ms,
                  "Model time per batch for an adaptive token budget to aim at (0 = none)")
      ->envname("EMBEDRT_TARGET_BATCH_MS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--express-max-tokens", o.express_max_tokens,
                  "Requests of at most this many tokens overtake a running batch between two "
                  "encoder operations (0 = off)")
      ->envname("EMBEDRT_EXPRESS_MAX_TOKENS")
      ->capture_default_str();
  cmd->add_option("--max-batch-size", o.max_batch_size,
                  "Texts per model batch (0 = the optimize mode's)")
      ->envname("EMBEDRT_MAX_BATCH_SIZE");
  cmd->add_option("--max-client-batch-size", o.max_client_batch_size,
                  "Inputs per request; more is a 413")
      ->envname("EMBEDRT_MAX_CLIENT_BATCH_SIZE")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-concurrent-requests", o.max_concurrent_requests,
                  "Requests handled at once; more get 429 with Retry-After")
      ->envname("EMBEDRT_MAX_CONCURRENT_REQUESTS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-input-length", o.engine.max_length,
                  "Tokens per input including special tokens (default: the model's limit)")
      ->envname("EMBEDRT_MAX_INPUT_LENGTH")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--auto-truncate", o.auto_truncate,
                "Truncate over-long inputs instead of answering 422")
      ->envname("EMBEDRT_AUTO_TRUNCATE");
  cmd->add_option("--payload-limit", o.payload_limit, "Request body bytes; more is a 413")
      ->envname("EMBEDRT_PAYLOAD_LIMIT")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-header-bytes", o.transport.max_header_bytes,
                  "Bytes of a request's line and header fields; more is a 431")
      ->envname("EMBEDRT_MAX_HEADER_BYTES")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--cache-mb", args->cache_mb,
                  "Embedding cache size in MiB (0 = off; default: the optimize mode's)")
      ->envname("EMBEDRT_CACHE_MB");
  cmd->add_flag("--no-deterministic", args->nondeterministic,
                "Trade bit-identical results across batch compositions for speed")
      ->envname("EMBEDRT_NO_DETERMINISTIC");
  cmd->add_option("--dimensions", args->dimensions,
                  "Default Matryoshka truncation: the first N values, renormalized when the model "
                  "normalizes (default: the model's truncate_dim, else all)")
      ->envname("EMBEDRT_DIMENSIONS");
  cmd->add_option("--calibration", args->calibration,
                  "A .npy of float embeddings [N, D] whose per-dimension min/max are the ranges "
                  "of encoding_format int8/uint8")
      ->envname("EMBEDRT_CALIBRATION");
  cmd->add_option("--quantization-ranges", args->quantization_ranges,
                  "A .npy [2, D] of ranges (row 0 minimum, row 1 maximum) for int8/uint8, as "
                  "written by encode --save-ranges")
      ->envname("EMBEDRT_QUANTIZATION_RANGES");
  cmd->add_option("--served-model-name", o.served_model_name,
                  "The model name in responses (default: the model folder's name)")
      ->envname("EMBEDRT_SERVED_MODEL_NAME");
  cmd->add_option("--read-timeout", args->read_timeout_s,
                  "Seconds a client has to send a whole request")
      ->envname("EMBEDRT_READ_TIMEOUT")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--write-timeout", args->write_timeout_s,
                  "Seconds a response write may stall before the connection is dropped")
      ->envname("EMBEDRT_WRITE_TIMEOUT")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--keep-alive-timeout", args->keep_alive_timeout_s,
                  "Seconds an idle connection is kept open")
      ->envname("EMBEDRT_KEEP_ALIVE_TIMEOUT")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--shutdown-timeout", args->shutdown_timeout_s,
                  "Seconds requests in flight get to finish on SIGTERM/SIGINT")
      ->envname("EMBEDRT_SHUTDOWN_TIMEOUT")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->callback([args] { run_serve(*args); });
}

}  // namespace embedrt::cli
