// cpp-httplib's Server with embedrt's own connection loop.
//
// Debian's cpp-httplib 0.11 gives handlers no way to see whether their client is still there,
// polls idle keep-alive connections every 10 ms, lets a slow client reset the read timeout with
// every byte, and only closes idle keep-alive connections on shutdown after their timeout. This
// class keeps httplib's request parsing, routing and response writing (process_request) and
// replaces what is around it: the socket stream (a whole-request read deadline however fast or
// slow the bytes come, bounds on the bytes of a request's head and body, a write timeout,
// MSG_NOSIGNAL), the keep-alive wait (blocking, and woken at shutdown), TCP_NODELAY on every
// connection, a larger listen backlog, and a per-thread ConnectionContext through which a
// handler finds its socket (to notice a client that hung up), learns why reading its request
// failed, and asks for the connection to be closed after its response (when it answered without
// reading the body).
//
// httplib 0.11 itself bounds neither the number of header lines nor the length of one line (of
// the request line, a header or a chunk size), and not a chunked body's size: without the
// stream's bounds a client could make a connection's thread hold gigabytes.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace embedrt::server {

struct TransportOptions {
  std::chrono::milliseconds read_timeout{30000};   // a whole request: headers and body
  std::chrono::milliseconds write_timeout{30000};  // each stalled write of a response
  std::chrono::milliseconds keep_alive_timeout{5000};
  size_t max_header_bytes = 64 * 1024;  // a request's line and header fields (more: 431)
  size_t keep_alive_max_requests = 10000;
  size_t max_connections = 1024;  // connection threads; later connections wait to be served
  int listen_backlog = 1024;
};

// Why the stream stopped reading a request before httplib had all of it.
enum class ReadFailure {
  kNone,
  kTimeout,          // the read timeout passed
  kHeadersTooLarge,  // over max_header_bytes before the end of the header fields
  kBodyTooLarge,     // over RequestReadLimits' body bound (the payload limit with framing)
};

// What a handler may know about the connection it runs on.
struct ConnectionContext {
  int fd = -1;
  bool close_after_response = false;
  bool holds_request_slot = false;                // released by the transport after the response
  bool release_memory = false;                    // see kReleaseMemoryAfterBytes
  ReadFailure read_failure = ReadFailure::kNone;  // set by the stream for the current request
  std::string request_id;
  std::chrono::steady_clock::time_point request_start;
  std::string endpoint;  // the metrics label the router chose
};

// After a request of this many bytes (or one whose handler sets release_memory), the connection's
// thread returns freed heap to the system: the allocator otherwise keeps what a large body, its
// parse and its tokenization took (a 10 MB text left 130 MB behind; an endless chunk-size line up
// to the body bound, 28 MB).
inline constexpr size_t kReleaseMemoryAfterBytes = 1 << 20;

// Counts one request's bytes as httplib consumes them: its head (the request line and header
// fields, up to the empty line that ends them, found as httplib finds it: a CRLF line right after
// a line feed) against one bound, the rest (the body with any chunk framing) against another.
class RequestReadLimits {
 public:
  RequestReadLimits(size_t max_head_bytes, size_t max_body_bytes)
      : max_head_bytes_(max_head_bytes), max_body_bytes_(max_body_bytes) {}

  void reset();  // a new request begins
  // Counts the next `bytes`; kHeadersTooLarge or kBodyTooLarge once a bound is passed.
  ReadFailure consume(std::string_view bytes);
  bool in_head() const { return in_head_; }
  size_t head_bytes() const { return head_bytes_; }
  size_t body_bytes() const { return body_bytes_; }

 private:
  size_t max_head_bytes_;
  size_t max_body_bytes_;
  bool in_head_ = true;
  int match_ = 0;  // how much of "\n\r\n" the last bytes matched
  size_t head_bytes_ = 0;
  size_t body_bytes_ = 0;
};

// The bytes a request's body may take on the wire: the payload limit, plus as much again for
// chunk framing, plus some slack. The decoded body is held to the payload limit itself.
size_t max_body_wire_bytes(size_t payload_limit);

class HttpTransport : public httplib::Server {
 public:
  explicit HttpTransport(TransportOptions options);
  ~HttpTransport() override;

  // Binds (port 0 = any free port) and returns the port; throws a message on failure.
  int bind(const std::string& host, int port);

  // Stops accepting, wakes idle keep-alive connections so they close, and lets requests being
  // handled finish; their responses say Connection: close. listen_after_bind() then returns
  // once every connection thread is done.
  void begin_shutdown();
  bool shutting_down() const { return shutting_down_.load(std::memory_order_relaxed); }

  size_t open_connections() const { return open_connections_.load(std::memory_order_relaxed); }

  // Called after each response on the connection's thread (e.g. to release a request slot).
  std::function<void(ConnectionContext&)> on_request_done;
  // Called once in every connection thread before it serves anything.
  std::function<void()> on_thread_start;

  // The connection the calling handler thread serves; nullptr outside a handler.
  static ConnectionContext* current();

 private:
  bool process_and_close_socket(socket_t sock) override;
  bool wait_for_request(int fd, bool has_buffered);

  TransportOptions options_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: readable once shutting down
  std::atomic<bool> shutting_down_{false};
  std::atomic<size_t> open_connections_{0};
};

// httplib's TaskQueue with threads started on demand up to a maximum, so that idle servers hold
// few threads and a burst of keep-alive clients each get one.
class ConnectionPool : public httplib::TaskQueue {
 public:
  ConnectionPool(size_t max_threads, std::function<void()> on_thread_start);
  ~ConnectionPool() override;
  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

 private:
  void work();

  size_t max_threads_;
  std::function<void()> on_thread_start_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool shutdown_ = false;
};

}  // namespace embedrt::server
