#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "embedrt/error.h"
#include "embedrt/reranker.h"
#include "engine_options.h"
#include "output_file.h"
#include "text_input.h"

namespace embedrt::cli {
namespace {

struct RerankArgs {
  TextCommandArgs io;
  std::string query;
  size_t top_k = 0;
  bool raw_scores = false;
  EngineArgs engine;
};

std::string format_score(float score) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.9g", double(score));
  return buffer;
}

void run_rerank(const RerankArgs& args) {
  const Reranker reranker = Reranker::load(args.io.model, to_embedder_options(args.engine));
  TextReader reader(args.io.input, args.io.input_format);
  std::vector<std::string> documents;
  while (reader.read_batch(documents, 4096)) {
  }
  OutputFile output(args.io.output);
  std::string out;
  if (reranker.info().labels.size() == 1) {
    for (const RankedDocument& d :
         reranker.rank(args.query, documents, args.top_k, args.raw_scores)) {
      out +=
          "{\"index\":" + std::to_string(d.index) + ",\"score\":" + format_score(d.score) + "}\n";
    }
  } else {
    // Several labels: one line per document in input order, a score per label.
    if (args.top_k > 0) {
      throw Error(ErrorCode::kInvalidArgument, "--top-k needs a one-label model; this one has " +
                                                   std::to_string(reranker.info().labels.size()) +
                                                   " labels");
    }
    std::vector<std::pair<std::string, std::string>> pairs;
    for (const std::string& d : documents) pairs.emplace_back(args.query, d);
    const auto scores = reranker.predict(pairs, args.raw_scores);
    const size_t labels = reranker.info().labels.size();
    for (size_t i = 0; i < documents.size(); ++i) {
      out += "{\"index\":" + std::to_string(i) + ",\"scores\":[";
      for (size_t k = 0; k < labels; ++k) {
        if (k > 0) out += ',';
        out += format_score(scores[i * labels + k]);
      }
      out += "]}\n";
    }
  }
  output.write(out);
  output.commit();
}

}  // namespace

void add_rerank_command(CLI::App& app) {
  auto args = std::make_shared<RerankArgs>();
  CLI::App* cmd = app.add_subcommand(
      "rerank",
      "Score each document against the query with a cross-encoder: JSON lines of index and "
      "score, best first (models with several labels: every label's score, input order)");
  add_text_command_options(cmd, args->io);
  cmd->add_option("--query,-q", args->query, "The query every document is scored against")
      ->required();
  cmd->add_option("--top-k", args->top_k, "Keep the best K documents (0 = all)");
  cmd->add_flag("--raw-scores", args->raw_scores,
                "Logits instead of the model's activation (sigmoid for one label)");
  add_engine_options(cmd, args->engine);
  cmd->callback([args] { run_rerank(*args); });
}

}  // namespace embedrt::cli
