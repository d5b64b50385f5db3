#include "runtime/tuning_file.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <ctime>
#include <fstream>

#include "embedrt/error.h"

namespace embedrt::runtime {
namespace {

using nlohmann::json;

constexpr int kFormat = 1;

json point_to_json(const TunePoint& p) {
  json j;
  j["threads"] = p.threads;
  j["batch_size"] = p.batch_size;
  j["max_batch_tokens"] = p.max_batch_tokens;
  j["batches_run"] = p.batches_run;
  j["texts_per_second"] = p.texts_per_second;
  j["tokens_per_second"] = p.tokens_per_second;
  j["p50_batch_ms"] = p.p50_batch_ms;
  j["p90_batch_ms"] = p.p90_batch_ms;
  j["estimated_mb"] = static_cast<double>(p.estimated_bytes) / (1 << 20);
  j["same_batches_as"] = p.same_batches_as ? json(*p.same_batches_as) : json(nullptr);
  return j;
}

// Typed field access with errors naming the file and the JSON path.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw Error(ErrorCode::kInvalidArgument,
                file_ + ": " + path + ": " + what + " (rerun embedrt tune, or delete the file)");
  }

  const json& field(const json& object, const std::string& path, const char* key) const {
    const auto it = object.find(key);
    if (it == object.end()) fail(path + key, "missing");
    return *it;
  }

  const json& object(const json& parent, const std::string& path, const char* key) const {
    const json& j = field(parent, path, key);
    if (!j.is_object()) fail(path + key, "expected an object");
    return j;
  }

  std::string string(const json& parent, const std::string& path, const char* key) const {
    const json& j = field(parent, path, key);
    if (!j.is_string()) fail(path + key, "expected a string");
    return j.get<std::string>();
  }

  size_t count(const json& parent, const std::string& path, const char* key, bool positive) const {
    const json& j = field(parent, path, key);
    if (!j.is_number_unsigned() || (positive && j.get<uint64_t>() == 0)) {
      fail(path + key, positive ? "expected a positive integer" : "expected an integer >= 0");
    }
    return static_cast<size_t>(j.get<uint64_t>());
  }

  double number(const json& parent, const std::string& path, const char* key) const {
    const json& j = field(parent, path, key);
    if (!j.is_number() || !std::isfinite(j.get<double>()) || j.get<double>() < 0) {
      fail(path + key, "expected a number >= 0");
    }
    return j.get<double>();
  }

  bool boolean(const json& parent, const std::string& path, const char* key) const {
    const json& j = field(parent, path, key);
    if (!j.is_boolean()) fail(path + key, "expected true or false");
    return j.get<bool>();
  }

 private:
  std::string file_;
};

TunePoint point_from_json(const Reader& r, const json& j, const std::string& path) {
  if (!j.is_object()) r.fail(path, "expected an object");
  const std::string p = path + ".";
  TunePoint point;
  point.threads = static_cast<int>(r.count(j, p, "threads", true));
  point.batch_size = r.count(j, p, "batch_size", true);
  point.max_batch_tokens = r.count(j, p, "max_batch_tokens", true);
  point.batches_run = r.count(j, p, "batches_run", false);
  point.texts_per_second = r.number(j, p, "texts_per_second");
  point.tokens_per_second = r.number(j, p, "tokens_per_second");
  point.p50_batch_ms = r.number(j, p, "p50_batch_ms");
  point.p90_batch_ms = r.number(j, p, "p90_batch_ms");
  point.estimated_bytes = static_cast<size_t>(r.number(j, p, "estimated_mb") * (1 << 20));
  if (const auto it = j.find("same_batches_as"); it != j.end() && !it->is_null()) {
    point.same_batches_as = r.count(j, p, "same_batches_as", false);
  }
  return point;
}

}  // namespace

std::string tuning_to_json(const TuneResult& r) {
  json j;
  j["format"] = kFormat;
  j["model"] = r.model;
  j["model_dir"] = r.model_dir.string();
  j["cpu"] = r.cpu;
  j["cpu_count"] = r.cpu_count;
  j["date"] = r.date;
  j["precision"] = r.precision;
  j["deterministic"] = r.deterministic;
  j["target_latency_ms"] = r.target_latency_ms ? json(*r.target_latency_ms) : json(nullptr);
  if (r.best < r.points.size()) {
    const TunePoint& best = r.points[r.best];
    j["settings"] = {{"threads", best.threads},
                     {"batch_size", best.batch_size},
                     {"max_batch_tokens", best.max_batch_tokens}};
    j["measured"] = {{"texts_per_second", best.texts_per_second},
                     {"tokens_per_second", best.tokens_per_second},
                     {"p50_batch_ms", best.p50_batch_ms},
                     {"p90_batch_ms", best.p90_batch_ms}};
  }
  j["workload"] = {{"source", r.workload},
                   {"texts", r.texts},
                   {"tokens", r.tokens},
                   {"median_tokens", r.median_tokens},
                   {"max_tokens", r.max_tokens}};
  j["seconds_per_point"] = r.seconds_per_point;
  j["grid"] = json::array();
  for (const TunePoint& p : r.points) j["grid"].push_back(point_to_json(p));
  j["best"] = r.best;
  return j.dump(2) + "\n";
}

TuneResult tuning_from_json(const std::string& text, const std::string& file) {
  const Reader r(file);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for 1e400
    throw Error(ErrorCode::kInvalidArgument, file + ": invalid JSON: " + e.what());
  }
  if (!j.is_object()) r.fail("(top level)", "expected an object");
  if (r.count(j, "", "format", true) != kFormat) {
    r.fail("format", "expected " + std::to_string(kFormat));
  }
  TuneResult result;
  result.model = r.string(j, "", "model");
  result.model_dir = r.string(j, "", "model_dir");
  result.cpu = r.string(j, "", "cpu");
  result.cpu_count = static_cast<int>(r.count(j, "", "cpu_count", true));
  result.date = r.string(j, "", "date");
  result.precision = r.string(j, "", "precision");
  result.deterministic = r.boolean(j, "", "deterministic");
  if (const auto it = j.find("target_latency_ms"); it != j.end() && !it->is_null()) {
    result.target_latency_ms = r.number(j, "", "target_latency_ms");
  }
  if (const auto it = j.find("seconds_per_point"); it != j.end()) {
    result.seconds_per_point = r.number(j, "", "seconds_per_point");
  }
  if (const auto it = j.find("workload"); it != j.end()) {
    const json& w = r.object(j, "", "workload");
    result.workload = r.string(w, "workload.", "source");
    result.texts = r.count(w, "workload.", "texts", false);
    result.tokens = r.count(w, "workload.", "tokens", false);
    result.median_tokens = r.count(w, "workload.", "median_tokens", false);
    result.max_tokens = r.count(w, "workload.", "max_tokens", false);
  }
  if (const auto it = j.find("grid"); it != j.end()) {
    if (!it->is_array()) r.fail("grid", "expected an array");
    for (size_t i = 0; i < it->size(); ++i) {
      result.points.push_back(point_from_json(r, (*it)[i], "grid[" + std::to_string(i) + "]"));
    }
  }
  // "settings" is authoritative (people may edit it by hand); it becomes the best point.
  const json& s = r.object(j, "", "settings");
  TunePoint chosen;
  chosen.threads = static_cast<int>(r.count(s, "settings.", "threads", true));
  chosen.batch_size = r.count(s, "settings.", "batch_size", true);
  chosen.max_batch_tokens = r.count(s, "settings.", "max_batch_tokens", true);
  const size_t best = j.contains("best") ? r.count(j, "", "best", false) : result.points.size();
  const bool best_matches = best < result.points.size() &&
                            result.points[best].threads == chosen.threads &&
                            result.points[best].batch_size == chosen.batch_size &&
                            result.points[best].max_batch_tokens == chosen.max_batch_tokens;
  if (best_matches) {
    result.best = best;
  } else {
    result.points.push_back(chosen);
    result.best = result.points.size() - 1;
  }
  return result;
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const size_t begin = line.find_first_not_of(" \t", colon + 1);
    if (begin == std::string::npos) continue;
    const size_t end = line.find_last_not_of(" \t\r");
    return line.substr(begin, end - begin + 1);
  }
  return "unknown";
}

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace embedrt::runtime
