// A small blocking HTTP client over libcurl for the Hub downloads: one request at a time on one
// reused connection, redirects never followed (the caller decides where credentials may go).
//
// libcurl rather than cpp-httplib (already a dependency of the server): Debian's cpp-httplib 0.11
// re-arms its read timeout with every byte (no stall detection), has no proxy support from the
// environment (HTTPS_PROXY, NO_PROXY), and its TLS client needs to be compiled in with OpenSSL and
// given the CA bundle by hand; libcurl does TLS with the system's CAs, proxies, low-speed timeouts
// and connection reuse, and is what every package manager on the platform already trusts.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace embedrt::hub {

struct HttpOptions {
  long connect_timeout_s = 10;  // to open a connection
  long stall_timeout_s = 30;    // a transfer slower than 1 byte/s for this long is cut
  std::string user_agent;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lowercased; the last value of each
  std::string body;                            // error bodies and non-streamed bodies (capped)

  // The header's value, or "" when absent.
  std::string header(const std::string& lowercase_name) const;
};

// No complete HTTP response: the connection failed, timed out or broke mid-transfer (retryable),
// or the request could not be made at all (a bad URL, a TLS certificate that does not verify).
class TransportError : public std::runtime_error {
 public:
  TransportError(const std::string& message, bool retryable)
      : std::runtime_error(message), retryable_(retryable) {}
  bool retryable() const noexcept { return retryable_; }

 private:
  bool retryable_;
};

class HttpClient {
 public:
  explicit HttpClient(HttpOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Receives a successful (2xx) response's body bytes, with its status and headers (complete by
  // then); returns false to abort the transfer.
  using BodySink = std::function<bool(const HttpResponse& head, const char* data, size_t size)>;

  // Sends one request ("GET" or "HEAD") with `headers` ("Name: value"). A 2xx body goes to
  // `sink` when given, else into HttpResponse::body; other bodies always into body (first 64 KiB).
  // Throws TransportError for connection problems and timeouts; a sink that returns false ends
  // the request with TransportError too.
  HttpResponse request(const std::string& method, const std::string& url,
                       const std::vector<std::string>& headers, const BodySink& sink = {});

 private:
  HttpOptions options_;
  void* curl_;  // CURL*
};

// Percent-encodes `text` as Python's urllib.parse.quote: letters, digits and "_.-~" stay, and
// so does '/' when `keep_slash`.
std::string url_quote(const std::string& text, bool keep_slash);

// "scheme://host:port" of an absolute URL with the scheme's default port made explicit, lowercase;
// "" when `url` is not absolute.
std::string url_origin(const std::string& url);

// `location` (a redirect's Location header) made absolute against `base`.
std::string url_join(const std::string& base, const std::string& location);

}  // namespace embedrt::hub
