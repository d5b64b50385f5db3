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

}  // namespace embedrt::cli
