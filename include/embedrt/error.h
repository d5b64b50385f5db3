// Errors raised by the embedrt library.
//
// User-facing failures (bad model files, bad input, unsupported features) are thrown as
// embedrt::Error with a category and a one-line message that names what was wrong: the file, the
// JSON path or field, the text index. Broken internal invariants are bugs and abort in debug
// builds.
#pragma once

#include <stdexcept>
#include <string>

namespace embedrt {

enum class ErrorCode {
  kInvalidArgument,  // a caller-supplied option or value is out of range
  kInvalidModel,     // a model file is missing, malformed or inconsistent
  kUnsupported,      // the model uses a component embedrt does not implement
  kIo,               // reading or writing a file failed
  kInputTooLong,     // a text exceeds the maximum length and overflow is an error
  kInternal,         // a library defect or a failure inside a dependency
};

constexpr const char* to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kInvalidModel:
      return "invalid_model";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kIo:
      return "io";
    case ErrorCode::kInputTooLong:
      return "input_too_long";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "unknown";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace embedrt
