#include "progress.h"

#include <unistd.h>

#include <cstdio>

namespace embedrt::cli {

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

Progress::Progress(bool enabled, size_t total_bytes)
    : enabled_(enabled),
      total_bytes_(total_bytes),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() {
  if (enabled_ && !finished_) std::fputc('\n', stderr);
}

void Progress::update(size_t texts_done, size_t bytes_done) {
  texts_done_ = texts_done;
  bytes_done_ = bytes_done;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  draw(texts_done, bytes_done, false);
}

void Progress::finish() {
  if (!enabled_ || finished_) return;
  draw(texts_done_, bytes_done_, true);
  finished_ = true;
}

void Progress::draw(size_t texts_done, size_t bytes_done, bool final_line) {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = seconds > 0 ? static_cast<double>(texts_done) / seconds : 0.0;
  char eta[32] = "";
  if (total_bytes_ > 0 && bytes_done > 0 && !final_line) {
    const double fraction = static_cast<double>(bytes_done) / static_cast<double>(total_bytes_);
    const double remaining = seconds * (1.0 / fraction - 1.0);
    std::snprintf(eta, sizeof(eta), "  %3.0f%%  ETA %.0fs", fraction * 100.0, remaining);
  }
  std::fprintf(stderr, "\r%zu texts  %.1f texts/s  %.1fs%s\033[K%s", texts_done, rate, seconds, eta,
               final_line ? "\n" : "");
  std::fflush(stderr);
}

DownloadProgress::DownloadProgress(bool enabled)
    : enabled_(enabled), start_(std::chrono::steady_clock::now()) {}

DownloadProgress::~DownloadProgress() { finish(); }

void DownloadProgress::update(size_t files_done, size_t files_total, uint64_t bytes_done,
                              uint64_t bytes_total, const std::string& file) {
  if (!enabled_ || files_total == 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(200) && files_done < files_total) {
    return;
  }
  last_draw_ = now;
  drawn_ = true;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const double rate = seconds > 0 ? double(bytes_done) / seconds : 0.0;
  std::fprintf(stderr, "\r%zu/%zu files  %.1f / %.1f MB  %.1f MB/s  %s\033[K", files_done,
               files_total, double(bytes_done) / 1e6, double(bytes_total) / 1e6, rate / 1e6,
               file.c_str());
  std::fflush(stderr);
}

void DownloadProgress::finish() {
  if (drawn_) std::fputc('\n', stderr);
  drawn_ = false;
}

}  // namespace embedrt::cli
