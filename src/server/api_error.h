// Client-facing failures and their JSON bodies in each API's style:
//   OpenAI (/v1/...): {"error":{"message":...,"type":...,"param":...,"code":...}}
//   TEI (the rest):   {"error":...,"error_type":...}
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace embedrt::server {

enum class ApiStyle { kOpenAI, kTei };

// /v1/... speaks OpenAI, everything else TEI.
ApiStyle style_for_path(std::string_view path);

class ApiError : public std::runtime_error {
 public:
  // `param`: the request field at fault ("input", "input[3]", "dimensions"), empty if none.
  ApiError(int status, std::string message, std::string param = {})
      : std::runtime_error(std::move(message)), status_(status), param_(std::move(param)) {}
  int status() const noexcept { return status_; }
  const std::string& param() const noexcept { return param_; }

 private:
  int status_;
  std::string param_;
};

// The error body for `status` in `style`.
std::string error_body(ApiStyle style, int status, std::string_view message,
                       std::string_view param = {});

// The OpenAI `type`/`code` and the TEI `error_type` that go with a status.
std::string_view openai_error_type(int status);
std::string_view openai_error_code(int status);
std::string_view tei_error_type(int status);

}  // namespace embedrt::server
