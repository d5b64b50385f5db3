// The server's Prometheus metrics: counters, gauges and histograms with fixed buckets, rendered
// in the text exposition format (version 0.0.4) for GET /metrics.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace embedrt::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  // Appends the _bucket, _sum and _count lines of `name` with `labels` (`key="v",...` or empty).
  void render(std::string& out, const std::string& name, const std::string& labels) const;
  uint64_t count() const;
  double sum() const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; the last is +Inf
  double sum_ = 0;
  uint64_t total_ = 0;
};

// Everything GET /metrics shows. Thread-safe; observing costs a mutex per histogram.
class Metrics {
 public:
  Metrics();

  // One finished HTTP request.
  void record_request(const std::string& endpoint, int status, double seconds);
  // Stage times of one successful embedding request.
  void record_stages(double tokenization_s, double queue_s, double inference_s);
  // Request parsing (JSON in) and response encoding (JSON/base64 out) of one request.
  void record_codec(double parse_s, double encode_s);
  void record_batch(size_t texts, size_t tokens, double seconds);
  void add_tokens(size_t tokens, size_t inputs);

  // Gauges and externally kept counters are read at render time.
  using GaugeReader = std::function<double()>;
  void add_gauge(std::string name, std::string help, GaugeReader reader, bool counter = false);

  std::string render() const;

  double parse_seconds_sum() const { return parse_.sum(); }
  double encode_seconds_sum() const { return encode_.sum(); }

 private:
  struct Gauge {
    std::string name, help;
    GaugeReader reader;
    bool counter;
  };

  mutable std::mutex requests_mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;     // (endpoint, status) -> count
  std::map<std::string, std::unique_ptr<Histogram>> durations_;  // endpoint -> seconds
  Histogram tokenization_, queue_, inference_, batch_duration_, batch_texts_, batch_tokens_;
  Histogram parse_, encode_;
  std::atomic<uint64_t> tokens_{0};
  std::atomic<uint64_t> inputs_{0};
  std::vector<Gauge> gauges_;
};

}  // namespace embedrt::server
