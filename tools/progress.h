// A one-line progress display (texts, rate, ETA) on standard error, redrawn at most a few times a
// second; silent unless enabled.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace embedrt::cli {

class Progress {
 public:
  // `total_bytes` is the input size when known (0 otherwise), used for the ETA.
  Progress(bool enabled, size_t total_bytes);
  ~Progress();
  void update(size_t texts_done, size_t bytes_done);
  void finish();

 private:
  void draw(size_t texts_done, size_t bytes_done, bool final_line);

  bool enabled_;
  size_t total_bytes_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  size_t texts_done_ = 0;
  size_t bytes_done_ = 0;
  bool finished_ = false;
};

// A one-line download display (files, megabytes, rate, the current file) on standard error,
// redrawn at most five times a second; silent unless enabled.
class DownloadProgress {
 public:
  explicit DownloadProgress(bool enabled);
  ~DownloadProgress();
  void update(size_t files_done, size_t files_total, uint64_t bytes_done, uint64_t bytes_total,
              const std::string& file);
  // Ends the line (before a warning, or at the end); the next update starts a new one.
  void finish();

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// True when standard error is a terminal.
bool stderr_is_terminal();

}  // namespace embedrt::cli
