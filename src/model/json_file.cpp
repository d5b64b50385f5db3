#include "model/json_file.h"

#include <fstream>
#include <sstream>

#include "embedrt/error.h"

namespace embedrt::model {

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, path.string() + ": cannot open file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw Error(ErrorCode::kIo, path.string() + ": read failed");
  return buffer.str();
}

nlohmann::json load_json_file(const std::filesystem::path& path) {
  const std::string text = read_text_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(ErrorCode::kInvalidModel,
                path.string() + ": invalid JSON at byte " + std::to_string(e.byte));
  } catch (const nlohmann::json::exception& e) {  // out_of_range: a number like 1e400
    throw Error(ErrorCode::kInvalidModel, path.string() + ": invalid JSON: " + e.what());
  }
}

nlohmann::json parse_json_object(const std::string& text, const std::string& file) {
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e400
    throw Error(ErrorCode::kInvalidModel, file + ": invalid JSON: " + e.what());
  }
  if (!root.is_object()) throw Error(ErrorCode::kInvalidModel, file + ": expected a JSON object");
  return root;
}

std::optional<nlohmann::json> load_optional_json_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  return load_json_file(path);
}

}  // namespace embedrt::model
