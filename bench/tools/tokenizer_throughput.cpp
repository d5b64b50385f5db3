// Tokenizer throughput on a corpus: loads tokenizer.json, reads texts (jsonl with a "text" field),
// runs Tokenizer::encode_batch with the given thread count `repeats` times and prints one JSON
// object with the median and every run's tokens per second. Driven by bench/bench_tokenizer.py,
// which runs HF tokenizers on the same corpus in the same process tree.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s TOKENIZER_JSON CORPUS_JSONL THREADS REPEATS\n", argv[0]);
    return 2;
  }
  try {
    auto tokenizer = embedrt::tokenizer::Tokenizer::from_file(argv[1]);
    tokenizer.set_truncation({});  // whole texts, as the HF side runs with no_truncation()
    std::vector<std::string> texts;
    std::ifstream in(argv[2]);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
    }
    const std::vector<std::string_view> views(texts.begin(), texts.end());
    const int threads = std::stoi(argv[3]);
    const int repeats = std::stoi(argv[4]);
    size_t tokens = 0;
    std::vector<double> rates;
    for (int r = 0; r < repeats; ++r) {
      const auto start = std::chrono::steady_clock::now();
      const auto encodings = tokenizer.encode_batch(views, true, threads);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      tokens = 0;
      for (const auto& e : encodings) tokens += e.ids.size();
      rates.push_back(static_cast<double>(tokens) / seconds);
    }
    std::vector<double> sorted = rates;
    std::sort(sorted.begin(), sorted.end());
    nlohmann::json out = {{"texts", texts.size()},
                          {"tokens", tokens},
                          {"threads", threads},
                          {"tokens_per_second_median", sorted[sorted.size() / 2]},
                          {"tokens_per_second_runs", rates}};
    std::cout << out.dump() << "\n";
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
