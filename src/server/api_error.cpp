#include "server/api_error.h"

#include "server/json_output.h"

namespace embedrt::server {

ApiStyle style_for_path(std::string_view path) {
  return path.starts_with("/v1/") || path == "/v1" ? ApiStyle::kOpenAI : ApiStyle::kTei;
}

std::string_view openai_error_type(int status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 429:
      return "rate_limit_error";
    case 503:
      return "service_unavailable";
    default:
      return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

std::string_view openai_error_code(int status) {
  switch (status) {
    case 400:
      return "invalid_json";
    case 401:
      return "invalid_api_key";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 408:
      return "request_timeout";
    case 411:
      return "length_required";
    case 413:
      return "request_too_large";
    case 422:
      return "invalid_value";
    case 424:
      return "wrong_model_kind";
    case 429:
      return "rate_limit_exceeded";
    case 431:
      return "request_headers_too_large";
    case 503:
      return "model_not_ready";
    default:
      return status >= 500 ? "internal_error" : "invalid_request";
  }
}

std::string_view tei_error_type(int status) {
  switch (status) {
    case 401:
      return "Unauthorized";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 408:
      return "Timeout";
    case 424:
      return "Backend";  // TEI: the loaded model cannot answer this route
    case 429:
      return "Overloaded";
    case 503:
      return "Unhealthy";
    default:
      return status >= 500 ? "Backend" : "Validation";
  }
}

std::string error_body(ApiStyle style, int status, std::string_view message,
                       std::string_view param) {
  std::string out;
  out.reserve(96 + message.size());
  if (style == ApiStyle::kOpenAI) {
    out += "{\"error\":{\"message\":";
    append_json_string(out, message);
    out += ",\"type\":";
    append_json_string(out, openai_error_type(status));
    out += ",\"param\":";
    if (param.empty()) {
      out += "null";
    } else {
      append_json_string(out, param);
    }
    out += ",\"code\":";
    append_json_string(out, openai_error_code(status));
    out += "}}";
  } else {
    out += "{\"error\":";
    append_json_string(out, message);
    out += ",\"error_type\":";
    append_json_string(out, tei_error_type(status));
    out += "}";
  }
  return out;
}

}  // namespace embedrt::server
