// Reading the small JSON files of a model folder with errors that name the file.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace embedrt::model {

// The whole file as bytes; throws kIo naming it when it cannot be read.
std::string read_text_file(const std::filesystem::path& path);

// Parses `path`; throws kIo when it cannot be read and kInvalidModel ("<path>: invalid JSON: ...")
// when it does not parse.
nlohmann::json load_json_file(const std::filesystem::path& path);

// Parses `text` as a JSON object; throws kInvalidModel "<file>: invalid JSON: ..." when it does
// not parse (a number like 1e400 included) and "<file>: expected a JSON object" when it is no
// object.
nlohmann::json parse_json_object(const std::string& text, const std::string& file);

// As load_json_file, but nullopt when the file does not exist.
std::optional<nlohmann::json> load_optional_json_file(const std::filesystem::path& path);

}  // namespace embedrt::model
