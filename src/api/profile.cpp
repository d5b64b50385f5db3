#include "embedrt/profile.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace embedrt {

InferenceOpTimes& InferenceOpTimes::operator+=(const InferenceOpTimes& other) {
  embeddings_ms += other.embeddings_ms;
  qkv_ms += other.qkv_ms;
  attention_ms += other.attention_ms;
  attention_output_ms += other.attention_output_ms;
  ffn_up_ms += other.ffn_up_ms;
  ffn_down_ms += other.ffn_down_ms;
  return *this;
}

StageTimes& StageTimes::operator+=(const StageTimes& other) {
  tokenization_ms += other.tokenization_ms;
  tensor_conversion_ms += other.tensor_conversion_ms;
  model_inference_ms += other.model_inference_ms;
  pooling_ms += other.pooling_ms;
  normalization_ms += other.normalization_ms;
  ops += other.ops;
  return *this;
}

EncodeProfile& EncodeProfile::operator+=(const EncodeProfile& other) {
  stages += other.stages;
  total_ms += other.total_ms;
  texts += other.texts;
  tokens += other.tokens;
  batches += other.batches;
  cache_hits += other.cache_hits;
  overlapped_tokenization_ms += other.overlapped_tokenization_ms;
  const double seconds = total_ms / 1000.0;
  tokens_per_second = seconds > 0 ? double(tokens) / seconds : 0;
  embeddings_per_second = seconds > 0 ? double(texts) / seconds : 0;
  memory_peak_mb = std::max(memory_peak_mb, other.memory_peak_mb);
  buffer_peak_mb = std::max(buffer_peak_mb, other.buffer_peak_mb);
  if (other.gpu_utilization_percent) gpu_utilization_percent = other.gpu_utilization_percent;
  if (!other.precision.empty()) precision = other.precision;
  tuner_decisions.insert(tuner_decisions.end(), other.tuner_decisions.begin(),
                         other.tuner_decisions.end());
  return *this;
}

namespace {

// A "Vm...:   1234 kB" line of /proc/self/status, in bytes.
size_t read_status_kb(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(status, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stoull(line.substr(prefix.size())) * 1024;
  }
  return 0;
}

std::string format_ms(double ms) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%10.2f", ms);
  return buffer;
}

std::string format_share(double ms, double total) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%6.1f%%", total > 0 ? 100.0 * ms / total : 0.0);
  return buffer;
}

}  // namespace

size_t process_peak_rss_bytes() { return read_status_kb("VmHWM"); }
size_t process_rss_bytes() { return read_status_kb("VmRSS"); }

std::string format_profile_table(const EncodeProfile& p) {
  const StageTimes& s = p.stages;
  const InferenceOpTimes& o = s.ops;
  std::string out = "stage                         ms    share\n";
  const auto row = [&](const char* name, double ms) {
    char label[32];
    std::snprintf(label, sizeof label, "%-20s", name);
    out += label + format_ms(ms) + " " + format_share(ms, p.total_ms) + "\n";
  };
  row("tokenization", s.tokenization_ms);
  row("tensor_conversion", s.tensor_conversion_ms);
  row("model_inference", s.model_inference_ms);
  row("  embeddings", o.embeddings_ms);
  row("  qkv", o.qkv_ms);
  row("  attention", o.attention_ms);
  row("  attention_output", o.attention_output_ms);
  row("  ffn_up", o.ffn_up_ms);
  row("  ffn_down", o.ffn_down_ms);
  row("pooling", s.pooling_ms);
  row("normalization", s.normalization_ms);
  row("total", p.total_ms);
  char line[256];
  std::snprintf(line, sizeof line,
                "texts %zu, tokens %zu, batches %zu, cache hits %zu, precision %s\n"
                "%.0f tokens/s, %.1f embeddings/s\n"
                "memory peak %.1f MB (process), activation buffers %.1f MB\n",
                p.texts, p.tokens, p.batches, p.cache_hits, p.precision.c_str(),
                p.tokens_per_second, p.embeddings_per_second, p.memory_peak_mb, p.buffer_peak_mb);
  out += line;
  out += p.gpu_utilization_percent
             ? "gpu utilization " + std::to_string(*p.gpu_utilization_percent) + "%\n"
             : "gpu utilization n/a (CPU backend)\n";
  for (const std::string& decision : p.tuner_decisions) out += "tuner: " + decision + "\n";
  return out;
}

std::string format_profile_json(const EncodeProfile& p) {
  const StageTimes& s = p.stages;
  nlohmann::ordered_json j;
  j["tokenization_ms"] = s.tokenization_ms;
  j["tensor_conversion_ms"] = s.tensor_conversion_ms;
  j["model_inference_ms"] = s.model_inference_ms;
  j["pooling_ms"] = s.pooling_ms;
  j["normalization_ms"] = s.normalization_ms;
  j["total_ms"] = p.total_ms;
  j["tokens_per_second"] = p.tokens_per_second;
  j["memory_peak_mb"] = p.memory_peak_mb;
  j["gpu_utilization_percent"] =
      p.gpu_utilization_percent ? nlohmann::ordered_json(*p.gpu_utilization_percent) : nullptr;
  j["embeddings_per_second"] = p.embeddings_per_second;
  j["buffer_peak_mb"] = p.buffer_peak_mb;
  j["model_inference_ops_ms"] = {
      {"embeddings", s.ops.embeddings_ms}, {"qkv", s.ops.qkv_ms},
      {"attention", s.ops.attention_ms},   {"attention_output", s.ops.attention_output_ms},
      {"ffn_up", s.ops.ffn_up_ms},         {"ffn_down", s.ops.ffn_down_ms}};
  j["texts"] = p.texts;
  j["tokens"] = p.tokens;
  j["batches"] = p.batches;
  j["cache_hits"] = p.cache_hits;
  j["overlapped_tokenization_ms"] = p.overlapped_tokenization_ms;
  j["precision"] = p.precision;
  j["tuner_decisions"] = p.tuner_decisions;
  return j.dump(2);
}

}  // namespace embedrt
