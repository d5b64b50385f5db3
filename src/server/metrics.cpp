#include "server/metrics.h"

#include <charconv>
#include <cmath>
#include <memory>

namespace embedrt::server {
namespace {

std::vector<double> latency_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

std::vector<double> power_of_two_buckets(double first, int count) {
  std::vector<double> bounds;
  for (int i = 0; i < count; ++i) bounds.push_back(first * std::pow(2.0, i));
  return bounds;
}

void append_number(std::string& out, double value) {
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

void header(std::string& out, const std::string& name, const char* type, const std::string& help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  size_t bucket = 0;
  while (bucket < bounds_.size() && value > bounds_[bucket]) ++bucket;
  std::lock_guard lock(mutex_);
  ++counts_[bucket];
  sum_ += value;
  ++total_;
}

uint64_t Histogram::count() const {
  std::lock_guard lock(mutex_);
  return total_;
}

double Histogram::sum() const {
  std::lock_guard lock(mutex_);
  return sum_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  std::lock_guard lock(mutex_);
  const std::string prefix = labels.empty() ? "" : labels + ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{" + prefix + "le=\"";
    append_number(out, i < bounds_.size() ? bounds_[i] : INFINITY);
    out += "\"} " + std::to_string(cumulative) + "\n";
  }
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + " ";
  append_number(out, sum_);
  out += "\n" + name + "_count" + braces + " " + std::to_string(total_) + "\n";
}

Metrics::Metrics()
    : tokenization_(latency_buckets()),
      queue_(latency_buckets()),
      inference_(latency_buckets()),
      batch_duration_(latency_buckets()),
      batch_texts_(power_of_two_buckets(1, 12)),
      batch_tokens_(power_of_two_buckets(16, 12)),
      parse_(latency_buckets()),
      encode_(latency_buckets()) {}

void Metrics::record_request(const std::string& endpoint, int status, double seconds) {
  Histogram* histogram = nullptr;
  {
    std::lock_guard lock(requests_mutex_);
    ++requests_[{endpoint, status}];
    auto& slot = durations_[endpoint];
    if (!slot) slot = std::make_unique<Histogram>(latency_buckets());
    histogram = slot.get();  // entries are never removed, so the pointer stays valid
  }
  histogram->observe(seconds);
}

void Metrics::record_stages(double tokenization_s, double queue_s, double inference_s) {
  tokenization_.observe(tokenization_s);
  queue_.observe(queue_s);
  inference_.observe(inference_s);
}

void Metrics::record_codec(double parse_s, double encode_s) {
  parse_.observe(parse_s);
  encode_.observe(encode_s);
}

void Metrics::record_batch(size_t texts, size_t tokens, double seconds) {
  batch_texts_.observe(static_cast<double>(texts));
  batch_tokens_.observe(static_cast<double>(tokens));
  batch_duration_.observe(seconds);
}

void Metrics::add_tokens(size_t tokens, size_t inputs) {
  tokens_.fetch_add(tokens, std::memory_order_relaxed);
  inputs_.fetch_add(inputs, std::memory_order_relaxed);
}

void Metrics::add_gauge(std::string name, std::string help, GaugeReader reader, bool counter) {
  gauges_.push_back({std::move(name), std::move(help), std::move(reader), counter});
}

std::string Metrics::render() const {
  std::string out;
  out.reserve(16384);
  header(out, "embedrt_requests_total", "counter", "HTTP requests by endpoint and status.");
  {
    std::lock_guard lock(requests_mutex_);
    for (const auto& [key, count] : requests_) {
      out += "embedrt_requests_total{endpoint=\"" + key.first + "\",status=\"" +
             std::to_string(key.second) + "\"} " + std::to_string(count) + "\n";
    }
    header(out, "embedrt_request_duration_seconds", "histogram",
           "Time from the request's first byte to its response, by endpoint.");
    for (const auto& [endpoint, histogram] : durations_) {
      histogram->render(out, "embedrt_request_duration_seconds", "endpoint=\"" + endpoint + "\"");
    }
  }
  const auto histogram = [&out](const Histogram& h, const char* name, const char* help) {
    header(out, name, "histogram", help);
    h.render(out, name, "");
  };
  histogram(tokenization_, "embedrt_tokenization_duration_seconds",
            "Tokenization time of an embedding request.");
  histogram(queue_, "embedrt_queue_duration_seconds",
            "Time an embedding request waited for its first model batch.");
  histogram(inference_, "embedrt_inference_duration_seconds",
            "Model time of the batches an embedding request took part in.");
  histogram(parse_, "embedrt_request_parse_duration_seconds",
            "JSON parsing and validation of a request body.");
  histogram(encode_, "embedrt_response_encode_duration_seconds",
            "Writing a response body (float text or base64).");
  histogram(batch_duration_, "embedrt_batch_duration_seconds", "Model time of one batch.");
  histogram(batch_texts_, "embedrt_batch_size", "Texts per model batch.");
  histogram(batch_tokens_, "embedrt_batch_tokens", "Tokens per model batch.");
  header(out, "embedrt_tokens_total", "counter", "Tokens of all embedded inputs.");
  out += "embedrt_tokens_total " + std::to_string(tokens_.load()) + "\n";
  header(out, "embedrt_inputs_total", "counter", "Embedded inputs.");
  out += "embedrt_inputs_total " + std::to_string(inputs_.load()) + "\n";
  for (const Gauge& gauge : gauges_) {
    header(out, gauge.name, gauge.counter ? "counter" : "gauge", gauge.help);
    out += gauge.name + " ";
    append_number(out, gauge.reader());
    out += "\n";
  }
  return out;
}

}  // namespace embedrt::server
