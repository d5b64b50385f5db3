// An output destination that never leaves a half-written file behind: a named file is written
// beside its final path and renamed into place only by commit(); "-" writes to standard output.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace embedrt::cli {

class OutputFile {
 public:
  explicit OutputFile(const std::string& path);  // throws embedrt::Error (kIo)
  ~OutputFile();                                 // removes the temporary file unless committed
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(std::string_view bytes);
  // Rewrites bytes at `offset` from the start; only for seekable outputs (see seekable()).
  void overwrite(size_t offset, std::string_view bytes);
  bool seekable() const noexcept { return !path_.empty(); }
  void commit();

 private:
  void check(bool ok, const char* what);

  std::string path_;  // empty for standard output
  std::string temp_path_;
  FILE* file_ = nullptr;
  bool committed_ = false;
};

}  // namespace embedrt::cli
