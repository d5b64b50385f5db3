#include "server/http_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace embedrt::server {
namespace {

using Clock = std::chrono::steady_clock;

thread_local ConnectionContext* current_connection = nullptr;

int poll_ms_until(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, std::numeric_limits<int>::max()));
}

void address_of(const sockaddr_storage& address, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&address);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    port = ntohs(in->sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    port = ntohs(in6->sin6_port);
  }
  ip = text;
}

// A buffered socket stream for one connection (kept across its keep-alive requests, so bytes of
// a pipelined next request are not lost). Reads share one deadline per request, checked before
// every receive, so a client can hold a connection past the read timeout neither by trickling
// bytes nor by sending without pause; and they stop at RequestReadLimits' bounds. Why a read
// failed is left in the connection's context for the error response.
class SocketStream : public httplib::Stream {
 public:
  SocketStream(int fd, std::chrono::milliseconds write_timeout, RequestReadLimits limits,
               ConnectionContext& context)
      : fd_(fd), write_timeout_(write_timeout), limits_(limits), context_(context) {}

  size_t request_bytes() const { return limits_.head_bytes() + limits_.body_bytes(); }

  void begin_request(Clock::time_point deadline) {
    read_deadline_ = deadline;
    limits_.reset();
    failed_ = false;
  }
  bool has_buffered() const { return begin_ < end_; }

  bool is_readable() const override {
    if (has_buffered()) return true;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, poll_ms_until(read_deadline_)) > 0;
  }

  bool is_writable() const override {
    pollfd p{fd_, POLLOUT, 0};
    return ::poll(&p, 1, static_cast<int>(write_timeout_.count())) > 0 &&
           !(p.revents & (POLLERR | POLLHUP | POLLNVAL));
  }

  ssize_t read(char* ptr, size_t size) override {
    if (failed_) return -1;
    size_t n = 0;
    if (!has_buffered() && size >= sizeof(buffer_)) {
      const ssize_t got = receive(ptr, size);
      if (got <= 0) return got;
      n = static_cast<size_t>(got);
    } else {
      if (!has_buffered()) {
        const ssize_t got = receive(buffer_, sizeof(buffer_));
        if (got <= 0) return got;
        begin_ = 0;
        end_ = static_cast<size_t>(got);
      }
      n = std::min(size, end_ - begin_);
      std::memcpy(ptr, buffer_ + begin_, n);
      begin_ += n;
    }
    const ReadFailure failure = limits_.consume({ptr, n});
    if (failure != ReadFailure::kNone) return fail(failure);
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    while (true) {
      const ssize_t n = ::send(fd_, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      if (!is_writable()) return -1;  // stalled past the write timeout
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      address_of(address, ip, port);
    }
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      address_of(address, ip, port);
    }
  }

  socket_t socket() const override { return fd_; }

 private:
  ssize_t fail(ReadFailure failure) {
    failed_ = true;
    context_.read_failure = failure;
    return -1;
  }

  ssize_t receive(char* ptr, size_t size) {
    while (true) {
      // Checked before every receive, not only when waiting: a client that keeps the socket
      // full would otherwise never meet the deadline.
      const int wait_ms = poll_ms_until(read_deadline_);
      if (wait_ms == 0) return fail(ReadFailure::kTimeout);
      const ssize_t n = ::recv(fd_, ptr, size, MSG_DONTWAIT);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, wait_ms);
      if (ready == 0) return fail(ReadFailure::kTimeout);
      if (ready < 0 && errno != EINTR) return -1;
    }
  }

  int fd_;
  std::chrono::milliseconds write_timeout_;
  RequestReadLimits limits_;
  ConnectionContext& context_;
  Clock::time_point read_deadline_ = Clock::now();
  bool failed_ = false;
  char buffer_[16384];
  size_t begin_ = 0;
  size_t end_ = 0;
};

// Closes after the peer had its chance to read the response: when a request's body was left
// unread, closing at once would make the kernel answer the unread bytes with a reset that can
// destroy the response before the client reads it.
void lingering_close(int fd) {
  ::shutdown(fd, SHUT_WR);
  const auto deadline = Clock::now() + std::chrono::milliseconds(500);
  char sink[16384];
  size_t drained = 0;
  while (drained < (8u << 20)) {
    pollfd p{fd, POLLIN, 0};
    const int wait_ms = poll_ms_until(deadline);
    if (wait_ms == 0 || ::poll(&p, 1, wait_ms) <= 0) break;
    const ssize_t n = ::recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
    if (n <= 0) break;
    drained += static_cast<size_t>(n);
  }
  ::close(fd);
}

}  // namespace

void RequestReadLimits::reset() {
  in_head_ = true;
  match_ = 0;
  head_bytes_ = 0;
  body_bytes_ = 0;
}

ReadFailure RequestReadLimits::consume(std::string_view bytes) {
  size_t i = 0;
  if (in_head_) {
    // The head ends with an empty CRLF line; the line before it (the request line or a header
    // field, even one httplib skips as invalid) ended with a line feed.
    for (; i < bytes.size() && in_head_; ++i) {
      const char c = bytes[i];
      if (match_ == 2 && c == '\n') {
        in_head_ = false;
      } else if (match_ == 1 && c == '\r') {
        match_ = 2;
      } else {
        match_ = c == '\n' ? 1 : 0;
      }
    }
    head_bytes_ += i;
    if (head_bytes_ > max_head_bytes_) return ReadFailure::kHeadersTooLarge;
  }
  body_bytes_ += bytes.size() - i;
  if (body_bytes_ > max_body_bytes_) return ReadFailure::kBodyTooLarge;
  return ReadFailure::kNone;
}

size_t max_body_wire_bytes(size_t payload_limit) {
  constexpr size_t kSlack = 64 * 1024;
  const size_t max = std::numeric_limits<size_t>::max();
  if (payload_limit > (max - kSlack) / 2) return max;
  return 2 * payload_limit + kSlack;
}

ConnectionContext* HttpTransport::current() { return current_connection; }

HttpTransport::HttpTransport(TransportOptions options) : options_(options) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw std::runtime_error("eventfd failed");
  // Keep the listening socket so that its backlog can be raised after bind (httplib's is 5,
  // which drops connection attempts when many clients connect at once).
  set_socket_options([this](socket_t fd) {
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_fd_ = fd;
  });
  set_tcp_nodelay(true);
  set_keep_alive_max_count(options_.keep_alive_max_requests);
  set_keep_alive_timeout(std::max<time_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(options_.keep_alive_timeout).count()));
  new_task_queue = [this] {
    return new ConnectionPool(options_.max_connections, [this] {
      if (on_thread_start) on_thread_start();
    });
  };
}

HttpTransport::~HttpTransport() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

int HttpTransport::bind(const std::string& host, int port) {
  const int bound = port == 0 ? bind_to_any_port(host) : (bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) +
                             (errno != 0 ? std::string(" (") + std::strerror(errno) + ")" : ""));
  }
  if (listen_fd_ >= 0) ::listen(listen_fd_, options_.listen_backlog);
  return bound;
}

void HttpTransport::begin_shutdown() {
  if (shutting_down_.exchange(true)) return;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t written = ::write(wake_fd_, &one, sizeof(one));
  stop();
}

bool HttpTransport::wait_for_request(int fd, bool has_buffered) {
  if (has_buffered) return true;
  pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  const int wait_ms = static_cast<int>(options_.keep_alive_timeout.count());
  while (true) {
    const int ready = ::poll(fds, 2, wait_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;  // keep-alive timeout
    if (fds[0].revents & POLLIN) {
      // A request that already arrived is served even while shutting down; one that would
      // arrive later is not waited for.
      char byte;
      return ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
    }
    if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) return false;
    if (fds[1].revents & POLLIN) {
      fds[1].fd = -1;
      // Catch a request racing with the wake-up before giving up on the connection.
      pollfd own{fd, POLLIN, 0};
      if (::poll(&own, 1, 0) > 0 && (own.revents & POLLIN)) {
        char byte;
        return ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
      }
      return false;
    }
  }
}

bool HttpTransport::process_and_close_socket(socket_t sock) {
  open_connections_.fetch_add(1, std::memory_order_relaxed);
  int yes = 1;
  ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
  ConnectionContext context;
  context.fd = sock;
  SocketStream stream(
      sock, options_.write_timeout,
      RequestReadLimits(options_.max_header_bytes, max_body_wire_bytes(payload_max_length_)),
      context);
  bool ok = true;
  bool linger = false;
  for (size_t served = 0; served < options_.keep_alive_max_requests; ++served) {
    if (!wait_for_request(sock, stream.has_buffered())) break;
    context.close_after_response = false;
    context.holds_request_slot = false;
    context.release_memory = false;
    context.read_failure = ReadFailure::kNone;
    context.request_id.clear();
    context.endpoint.clear();
    context.request_start = Clock::now();
    stream.begin_request(context.request_start + options_.read_timeout);
    const bool last = shutting_down() || served + 1 == options_.keep_alive_max_requests;
    bool connection_closed = false;
    current_connection = &context;
    ok = process_request(stream, last, connection_closed, nullptr);
    current_connection = nullptr;
    if (on_request_done) on_request_done(context);
    if (context.release_memory || stream.request_bytes() >= kReleaseMemoryAfterBytes) {
#ifdef __GLIBC__
      malloc_trim(0);
#endif
    }
    if (context.close_after_response) linger = true;
    if (!ok || connection_closed || last || context.close_after_response) break;
  }
  if (linger) {
    lingering_close(sock);
  } else {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
  open_connections_.fetch_sub(1, std::memory_order_relaxed);
  return ok;
}

ConnectionPool::ConnectionPool(size_t max_threads, std::function<void()> on_thread_start)
    : max_threads_(std::max<size_t>(1, max_threads)),
      on_thread_start_(std::move(on_thread_start)) {}

ConnectionPool::~ConnectionPool() { shutdown(); }

void ConnectionPool::enqueue(std::function<void()> fn) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(fn));
    if (idle_ < jobs_.size() && threads_.size() < max_threads_) {
      threads_.emplace_back([this] { work(); });
    }
  }
  cv_.notify_one();
}

void ConnectionPool::shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    shutdown_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& thread : threads) thread.join();
}

void ConnectionPool::work() {
  if (on_thread_start_) on_thread_start_();
  std::unique_lock lock(mutex_);
  while (true) {
    ++idle_;
    cv_.wait(lock, [this] { return shutdown_ || !jobs_.empty(); });
    --idle_;
    if (jobs_.empty()) return;  // shutting down with nothing left
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    lock.lock();
  }
}

}  // namespace embedrt::server
