// Reads the texts a command works on, in the convention every command shares:
//   lines (default): texts separated by '\n'; a trailing '\n' does not add an empty text; a '\r'
//                    right before '\n' is dropped; every other byte belongs to the text.
//   jsonl:           one JSON value per line, a string or an object with a "text" string.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace embedrt::cli {

enum class InputFormat { kLines, kJsonl };

class TextReader {
 public:
  // `path` "-" reads standard input. Throws embedrt::Error (kIo) when the file cannot be opened.
  TextReader(const std::string& path, InputFormat format);
  ~TextReader();
  TextReader(const TextReader&) = delete;
  TextReader& operator=(const TextReader&) = delete;

  // Appends up to `max_texts` texts to `out`; false when the input is exhausted and nothing was
  // read. Throws embedrt::Error (kInvalidArgument) naming the line of a malformed jsonl record.
  bool read_batch(std::vector<std::string>& out, size_t max_texts);

  // Total bytes of the input when known (a regular file), for progress reporting; 0 otherwise.
  size_t size_hint() const noexcept { return size_hint_; }
  size_t bytes_read() const noexcept { return bytes_read_; }

 private:
  bool read_line(std::string& line);

  std::string path_;
  InputFormat format_;
  FILE* file_ = nullptr;
  bool owns_file_ = false;
  size_t line_number_ = 0;
  size_t size_hint_ = 0;
  size_t bytes_read_ = 0;
};

}  // namespace embedrt::cli
