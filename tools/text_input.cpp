#include "text_input.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "embedrt/error.h"

namespace embedrt::cli {

TextReader::TextReader(const std::string& path, InputFormat format)
    : path_(path == "-" ? "<stdin>" : path), format_(format) {
  if (path == "-") {
    file_ = stdin;
    return;
  }
  file_ = std::fopen(path.c_str(), "rb");
  if (file_ == nullptr) {
    throw Error(ErrorCode::kIo, path + ": cannot open input: " + std::strerror(errno));
  }
  owns_file_ = true;
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) {
    size_hint_ = static_cast<size_t>(std::filesystem::file_size(path, ec));
  }
}

TextReader::~TextReader() {
  if (owns_file_) std::fclose(file_);
}

bool TextReader::read_line(std::string& line) {
  line.clear();
  int c = 0;
  bool any = false;
  while ((c = getc_unlocked(file_)) != EOF) {
    any = true;
    ++bytes_read_;
    if (c == '\n') {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      ++line_number_;
      return true;
    }
    line.push_back(static_cast<char>(c));
  }
  if (std::ferror(file_)) throw Error(ErrorCode::kIo, path_ + ": read failed");
  if (any) ++line_number_;
  return any;
}

bool TextReader::read_batch(std::vector<std::string>& out, size_t max_texts) {
  size_t added = 0;
  std::string line;
  while (added < max_texts && read_line(line)) {
    if (format_ == InputFormat::kLines) {
      out.push_back(std::move(line));
      ++added;
      continue;
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank jsonl line
    const std::string where = path_ + ": line " + std::to_string(line_number_) + ": ";
    nlohmann::json value;
    try {
      value = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      throw Error(ErrorCode::kInvalidArgument,
                  where + "invalid JSON at column " + std::to_string(e.byte));
    } catch (const nlohmann::json::exception& e) {  // out_of_range: a number like 1e400
      throw Error(ErrorCode::kInvalidArgument, where + "invalid JSON: " + e.what());
    }
    if (value.is_string()) {
      out.push_back(value.get<std::string>());
    } else if (value.is_object() && value.contains("text") && value["text"].is_string()) {
      out.push_back(value["text"].get<std::string>());
    } else {
      throw Error(ErrorCode::kInvalidArgument,
                  where + "expected a JSON string or an object with a \"text\" string");
    }
    ++added;
  }
  return added > 0;
}

}  // namespace embedrt::cli
