#include "output_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "embedrt/error.h"

namespace embedrt::cli {

OutputFile::OutputFile(const std::string& path) {
  if (path == "-") {
    file_ = stdout;
    return;
  }
  path_ = path;
  temp_path_ = path + ".tmp." + std::to_string(::getpid());
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (file_ == nullptr) {
    throw Error(ErrorCode::kIo, path + ": cannot create output: " + std::strerror(errno));
  }
}

OutputFile::~OutputFile() {
  if (path_.empty()) {
    std::fflush(file_);
    return;
  }
  if (!committed_) {
    std::fclose(file_);
    std::remove(temp_path_.c_str());
  }
}

void OutputFile::check(bool ok, const char* what) {
  if (!ok) {
    const std::string name = path_.empty() ? "<stdout>" : path_;
    throw Error(ErrorCode::kIo, name + ": " + what + " failed: " + std::strerror(errno));
  }
}

void OutputFile::write(std::string_view bytes) {
  check(std::fwrite(bytes.data(), 1, bytes.size(), file_) == bytes.size(), "write");
}

void OutputFile::overwrite(size_t offset, std::string_view bytes) {
  check(seekable(), "seek");
  check(std::fseek(file_, static_cast<long>(offset), SEEK_SET) == 0, "seek");
  write(bytes);
  check(std::fseek(file_, 0, SEEK_END) == 0, "seek");
}

void OutputFile::commit() {
  if (path_.empty()) {
    check(std::fflush(file_) == 0, "write");
    return;
  }
  const bool closed = std::fclose(file_) == 0;
  committed_ = true;
  if (!closed || std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    std::remove(temp_path_.c_str());
    check(false, "write");
  }
}

}  // namespace embedrt::cli
