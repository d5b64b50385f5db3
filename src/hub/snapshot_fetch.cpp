#include "hub/snapshot_fetch.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "embedrt/error.h"
#include "hub/file_selection.h"
#include "hub/http_client.h"

namespace embedrt::hub {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxRedirects = 10;

[[noreturn]] void fail(const std::string& message) { throw Error(ErrorCode::kIo, message); }

bool is_hex(const std::string& text, size_t length) {
  return text.size() == length && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// huggingface_hub's validate_repo_id: [org/]name of [\w.-], each starting and ending with \w,
// no "--" or "..", at most 96 characters.
bool is_valid_repo_id(const std::string& id) {
  if (id.empty() || id.size() > 96 || id.find("--") != std::string::npos ||
      id.find("..") != std::string::npos) {
    return false;
  }
  const auto slash = id.find('/');
  if (slash != std::string::npos && id.find('/', slash + 1) != std::string::npos) return false;
  const auto valid_part = [](const std::string& part) {
    return !part.empty() && is_word_char(part.front()) && is_word_char(part.back()) &&
           std::all_of(part.begin(), part.end(),
                       [](char c) { return is_word_char(c) || c == '-' || c == '.'; });
  };
  if (slash == std::string::npos) return valid_part(id);
  return valid_part(id.substr(0, slash)) && valid_part(id.substr(slash + 1));
}

// A branch or tag name (slashes allowed, as in refs/pr/1) that stays inside refs/.
bool is_valid_revision(const std::string& revision) {
  if (revision.empty() || revision.front() == '/' || revision.back() == '/') return false;
  for (const unsigned char c : revision) {
    if (c < 0x21 || c == 0x7f || c == '\\') return false;
  }
  return is_safe_repo_path(revision);
}

// An etag as huggingface_hub stores it: without W/ and quotes. It becomes a file name in blobs/.
std::string normalize_etag(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
  while (!etag.empty() && etag.front() == '"') etag.erase(0, 1);
  while (!etag.empty() && etag.back() == '"') etag.pop_back();
  return etag;
}

bool is_safe_etag(const std::string& etag) {
  return !etag.empty() && etag.size() <= 128 && etag != "." && etag != ".." &&
         std::all_of(etag.begin(), etag.end(),
                     [](char c) { return is_word_char(c) || c == '-' || c == '.'; });
}

std::optional<uint64_t> parse_size(const std::string& text) {
  if (text.empty() || text.size() > 19 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return std::stoull(text);
}

// The Hub's X-Error-Message, on one line and short, for the end of an error message.
std::string hub_message(const HttpResponse& response) {
  std::string text = response.header("x-error-message");
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (text.size() > 200) text = text.substr(0, 200) + "...";
  return text.empty() ? "" : " (" + text + ")";
}

// A URL for messages: without its query, which for a CDN holds a signature (a credential).
std::string shown(const std::string& url) { return url.substr(0, url.find('?')); }

bool is_retryable_status(long status) {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
         status == 504;
}

struct FileMeta {
  std::string path;
  std::string etag;
  std::string location;  // where to GET the bytes
  std::optional<uint64_t> size;
};

class Fetcher {
 public:
  Fetcher(const FetchOptions& options, const FetchCallbacks& callbacks)
      : options_(options),
        callbacks_(callbacks),
        client_(
            HttpOptions{options.connect_timeout_s, options.stall_timeout_s, options.user_agent}) {
    endpoint_ = options.endpoint;
    while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
    endpoint_origin_ = url_origin(endpoint_);
    if (endpoint_origin_.rfind("http://", 0) != 0 && endpoint_origin_.rfind("https://", 0) != 0) {
      throw Error(ErrorCode::kInvalidArgument,
                  "HF_ENDPOINT: \"" + options.endpoint + "\" is not an http(s) URL");
    }
    repo_dir_ = options.cache_dir / repo_folder_name(options.repo_id);
  }

  FetchResult run();

 private:
  std::vector<std::string> headers_for(const std::string& url, bool identity) const;
  HttpResponse request_with_retries(const std::string& method, const std::string& url,
                                    bool identity);
  HttpResponse request_on_hub(const std::string& method, std::string& url, bool identity,
                              const std::string& file);
  [[noreturn]] void http_error(const std::string& url, const HttpResponse& response,
                               const std::string& file) const;
  void wait_before_retry(int failures, const std::string& url, const std::string& why);
  FileMeta file_metadata(const std::string& commit, const std::string& path);
  void download_blob(const FileMeta& meta);
  void verify_blob(const FileMeta& meta, const fs::path& file, uint64_t bytes) const;
  bool linked(const std::string& commit, const std::string& path) const;
  void link(const std::string& commit, const FileMeta& meta) const;
  void write_ref(const std::string& commit) const;
  fs::path blob_path(const std::string& etag) const { return repo_dir_ / "blobs" / etag; }
  void report() const {
    if (callbacks_.progress) callbacks_.progress(progress_);
  }

  const FetchOptions& options_;
  const FetchCallbacks& callbacks_;
  size_t downloaded_files_ = 0;  // blobs this run completed
  uint64_t received_bytes_ = 0;  // bytes this run received
  HttpClient client_;
  std::string endpoint_;
  std::string endpoint_origin_;
  fs::path repo_dir_;
  FetchProgress progress_;
};

// The token goes only to the Hub itself, never to the CDN an LFS file redirects to.
std::vector<std::string> Fetcher::headers_for(const std::string& url, bool identity) const {
  std::vector<std::string> headers;
  if (!options_.token.empty() && url_origin(url) == endpoint_origin_) {
    headers.push_back("Authorization: Bearer " + options_.token);
  }
  // The size in the headers must be the file's, not a compressed body's.
  if (identity) headers.push_back("Accept-Encoding: identity");
  return headers;
}

void Fetcher::wait_before_retry(int failures, const std::string& url, const std::string& why) {
  const double seconds = std::min(8.0, 0.5 * double(1 << std::min(failures - 1, 4)));
  if (callbacks_.warning) {
    char text[64];
    std::snprintf(text, sizeof(text), "; retrying in %.1f s (%d/%d)", seconds, failures,
                  options_.retries);
    callbacks_.warning(url + ": " + why + text);
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

HttpResponse Fetcher::request_with_retries(const std::string& method, const std::string& url,
                                           bool identity) {
  for (int failures = 0;;) {
    try {
      HttpResponse response = client_.request(method, url, headers_for(url, identity));
      if (!is_retryable_status(response.status) || failures >= options_.retries) return response;
      wait_before_retry(++failures, url, "HTTP " + std::to_string(response.status));
    } catch (const TransportError& e) {
      if (!e.retryable()) fail(url + ": " + e.what());
      if (failures >= options_.retries) {
        fail(url + ": " + e.what() + " (" + std::to_string(failures + 1) + " attempts)");
      }
      wait_before_retry(++failures, url, e.what());
    }
  }
}

void Fetcher::http_error(const std::string& url, const HttpResponse& response,
                         const std::string& file) const {
  const long status = response.status;
  const std::string code = response.header("x-error-code");
  std::string message = url + ": HTTP " + std::to_string(status);
  const std::string& repo = options_.repo_id;
  if (status == 401) {
    message += options_.token.empty()
                   ? ": " + repo + " is private, gated or does not exist; set HF_TOKEN to a " +
                         "token with access to it"
                   : ": HF_TOKEN was not accepted (expired, revoked, or no access to " + repo + ")";
  } else if (status == 403) {
    message += options_.token.empty()
                   ? ": no access to " + repo + " without a token; set HF_TOKEN"
                   : ": HF_TOKEN gives no access to " + repo +
                         " (a gated repository needs its conditions accepted on the Hub)";
  } else if (status == 404) {
    if (code == "RevisionNotFound") {
      message += ": revision " + options_.revision + " not found in " + repo;
    } else if (code == "EntryNotFound" && !file.empty()) {
      message += ": " + file + " not found in " + repo;
    } else if (code == "RepoNotFound") {
      message += ": repository " + repo + " not found";
    } else {
      message += file.empty()
                     ? ": repository " + repo + " or revision " + options_.revision + " not found"
                     : ": " + file + " not found";
    }
  }
  fail(message + hub_message(response));
}

// As huggingface_hub: redirects that stay on the Hub's origin are followed (a renamed
// repository); one that leaves it (an LFS file's CDN) ends the walk, and `url` is left at the
// request that answered it.
HttpResponse Fetcher::request_on_hub(const std::string& method, std::string& url, bool identity,
                                     const std::string& file) {
  for (int redirects = 0;; ++redirects) {
    HttpResponse response = request_with_retries(method, url, identity);
    const std::string location = response.header("location");
    const bool redirect = response.status >= 300 && response.status < 400 && !location.empty();
    if (response.status >= 400 || (response.status >= 300 && !redirect)) {
      http_error(url, response, file);
    }
    if (!redirect || url_origin(url_join(url, location)) != url_origin(url)) return response;
    if (redirects == kMaxRedirects) fail(url + ": more than 10 redirects");
    url = url_join(url, location);
  }
}

FileMeta Fetcher::file_metadata(const std::string& commit, const std::string& path) {
  std::string url = endpoint_ + "/" + options_.repo_id + "/resolve/" + commit + "/" +
                    url_quote(path, /*keep_slash=*/true);
  const HttpResponse response = request_on_hub("HEAD", url, /*identity=*/true, path);
  const bool redirect = response.status >= 300 && response.status < 400;
  const std::string target = redirect ? url_join(url, response.header("location")) : url;
  const std::string repo_commit = response.header("x-repo-commit");
  if (repo_commit.empty()) {
    fail(url + ": no X-Repo-Commit header; HF_ENDPOINT does not seem to be a Hugging Face Hub");
  }
  if (repo_commit != commit) {
    fail(url + ": the Hub answered for commit " + repo_commit + ", not " + commit);
  }
  std::string etag = response.header("x-linked-etag");
  if (etag.empty()) etag = response.header("etag");
  etag = normalize_etag(etag);
  if (etag.empty()) fail(url + ": no ETag header, so the download cannot be verified");
  if (!is_safe_etag(etag)) fail(url + ": ETag \"" + etag + "\" is not a valid blob name");
  FileMeta meta{path, etag, target, std::nullopt};
  std::string size = response.header("x-linked-size");
  if (size.empty() && !redirect) size = response.header("content-length");
  meta.size = parse_size(size);
  return meta;
}

// Where the Hub's etag is a digest, the bytes must have it: sha256 for LFS files, the git blob id
// (sha1 of "blob <size>\0" + bytes) for the others.
void Fetcher::verify_blob(const FileMeta& meta, const fs::path& file, uint64_t bytes) const {
  const auto reject = [&](const std::string& why) {
    std::error_code ec;
    fs::remove(file, ec);
    fail(meta.path + ": " + why + " (from " + shown(meta.location) + "); deleted the download");
  };
  if (meta.size && bytes != *meta.size) {
    reject("received " + std::to_string(bytes) + " bytes, the Hub says " +
           std::to_string(*meta.size));
  }
  const bool sha256 = is_hex(meta.etag, 64);
  const bool git_sha1 = is_hex(meta.etag, 40);
  if (!sha256 && !git_sha1) return;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), sha256 ? EVP_sha256() : EVP_sha1(), nullptr);
  if (git_sha1) {
    const std::string header = "blob " + std::to_string(bytes);
    EVP_DigestUpdate(ctx.get(), header.c_str(), header.size() + 1);  // with the NUL
  }
  std::ifstream in(file, std::ios::binary);
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buffer.data(), size_t(in.gcount()));
  }
  if (in.bad()) fail(file.string() + ": cannot read back the download");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    char two[3];
    std::snprintf(two, sizeof(two), "%02x", digest[i]);
    hex += two;
  }
  if (hex != meta.etag) {
    reject(std::string(sha256 ? "sha256" : "git blob id") + " of the received bytes is " + hex +
           ", the Hub says " + meta.etag);
  }
}

void Fetcher::download_blob(const FileMeta& meta) {
  const fs::path blob = blob_path(meta.etag);
  std::error_code ec;
  if (fs::exists(blob, ec)) return;
  fs::create_directories(blob.parent_path(), ec);
  const fs::path partial = blob.string() + ".incomplete";
  const int fd = ::open(partial.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fail(partial.string() + ": cannot create: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    fail(partial.string() + ": another process is downloading this file");
  }
  struct stat st {};
  ::fstat(fd, &st);
  uint64_t offset = static_cast<uint64_t>(st.st_size);
  if (meta.size && offset > *meta.size) {
    if (::ftruncate(fd, 0) != 0) fail(partial.string() + ": cannot truncate");
    offset = 0;
  }
  progress_.file = meta.path;
  progress_.bytes_done += offset;
  report();

  std::string url = meta.location;  // the CDN may redirect further (a signed URL)
  int redirects = 0;
  for (int failures = 0;;) {
    if (meta.size && offset == *meta.size) break;
    std::vector<std::string> headers = headers_for(url, /*identity=*/true);
    if (offset > 0) headers.push_back("Range: bytes=" + std::to_string(offset) + "-");
    const uint64_t start = offset;
    // Why the sink stopped a transfer (curl then reports an aborted write).
    enum class Stop { kNone, kBadRange, kTooLarge, kWriteFailed } stop = Stop::kNone;
    std::string stop_detail;
    bool started = false;
    const auto restart = [&] {
      progress_.bytes_done -= offset;
      offset = 0;
      return ::ftruncate(fd, 0) == 0;
    };
    const auto sink = [&](const HttpResponse& head, const char* data, size_t size) {
      if (!started) {
        started = true;
        if (offset > 0 && head.status == 200) {
          // The server ignored the Range: start over.
          if (!restart()) {
            stop = Stop::kWriteFailed;
            stop_detail = "cannot truncate: " + std::string(std::strerror(errno));
            return false;
          }
        } else if (head.status == 206) {
          const std::string range = head.header("content-range");
          if (range.rfind("bytes " + std::to_string(offset) + "-", 0) != 0) {
            stop = Stop::kBadRange;
            return false;
          }
        }
      }
      if (meta.size && offset + size > *meta.size) {
        stop = Stop::kTooLarge;
        return false;
      }
      for (size_t done = 0; done < size;) {
        const ssize_t n = ::pwrite(fd, data + done, size - done, off_t(offset + done));
        if (n <= 0) {
          stop = Stop::kWriteFailed;
          stop_detail = "cannot write: " + std::string(std::strerror(errno));
          return false;
        }
        done += size_t(n);
      }
      offset += size;
      progress_.bytes_done += size;
      received_bytes_ += size;
      report();
      return true;
    };
    try {
      const HttpResponse response = client_.request("GET", url, headers, sink);
      if (response.status == 416 && offset > 0) {
        // Nothing past `offset`: complete when the size is unknown, else a stale partial file.
        if (!meta.size) break;
        if (!restart()) fail(partial.string() + ": cannot truncate");
        continue;
      }
      if (response.status >= 300 && response.status < 400 && !response.header("location").empty() &&
          redirects < kMaxRedirects) {
        url = url_join(url, response.header("location"));
        redirects += 1;
        continue;
      }
      if (response.status >= 300) {
        if (is_retryable_status(response.status) && failures < options_.retries) {
          wait_before_retry(++failures, shown(url), "HTTP " + std::to_string(response.status));
          continue;
        }
        http_error(shown(url), response, meta.path);
      }
      if (!meta.size || offset == *meta.size) break;
      throw TransportError("the response ended after " + std::to_string(offset) + " of " +
                               std::to_string(*meta.size) + " bytes",
                           true);
    } catch (const TransportError& e) {
      switch (stop) {
        case Stop::kTooLarge:
          ::unlink(partial.c_str());
          fail(meta.path + ": the server sent more than the " + std::to_string(*meta.size) +
               " bytes the Hub announced (from " + shown(url) + "); deleted the download");
        case Stop::kWriteFailed:
          fail(partial.string() + ": " + stop_detail);
        case Stop::kBadRange:  // a range we did not ask for: start over
          if (!restart()) fail(partial.string() + ": cannot truncate");
          break;
        case Stop::kNone:
          if (!e.retryable()) fail(shown(url) + ": " + e.what());
          break;
      }
      if (offset > start) failures = 0;  // this connection moved data: not a dead end yet
      if (failures >= options_.retries) {
        fail(shown(url) + ": " + e.what() + " (" + std::to_string(failures + 1) + " attempts; " +
             std::to_string(offset) + " bytes kept in " + partial.string() +
             ", the next fetch resumes from there)");
      }
      wait_before_retry(++failures, shown(url),
                        std::string(e.what()) + "; resuming at byte " + std::to_string(offset));
    }
  }
  if (::fsync(fd) != 0) fail(partial.string() + ": cannot sync: " + std::strerror(errno));
  verify_blob(meta, partial, offset);
  fs::rename(partial, blob, ec);
  if (ec) fail(blob.string() + ": cannot move the download into place: " + ec.message());
  progress_.files_done += 1;
  downloaded_files_ += 1;
  report();
}

bool Fetcher::linked(const std::string& commit, const std::string& path) const {
  std::error_code ec;
  return fs::is_regular_file(repo_dir_ / "snapshots" / commit / path, ec);  // follows the link
}

// snapshots/<commit>/<path> -> ../../blobs/<etag> (one more ../ per folder in the path), made
// under a temporary name and renamed over, so the link is either the old one or the new one.
void Fetcher::link(const std::string& commit, const FileMeta& meta) const {
  const fs::path file = repo_dir_ / "snapshots" / commit / meta.path;
  std::string target = "../../";
  for (const char c : meta.path) {
    if (c == '/') target += "../";
  }
  target += "blobs/" + meta.etag;
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  if (ec) fail(file.parent_path().string() + ": cannot create: " + ec.message());
  if (fs::is_symlink(file, ec) && fs::read_symlink(file, ec) == target) return;
  const fs::path temporary = file.string() + ".tmp" + std::to_string(::getpid());
  fs::remove(temporary, ec);
  fs::create_symlink(target, temporary, ec);
  if (!ec) fs::rename(temporary, file, ec);
  if (ec) fail(file.string() + ": cannot link to the blob: " + ec.message());
}

// refs/<revision> holds the commit, without a newline (as huggingface_hub writes it).
void Fetcher::write_ref(const std::string& commit) const {
  if (options_.revision == commit) return;
  const fs::path ref = repo_dir_ / "refs" / options_.revision;
  std::error_code ec;
  {
    std::ifstream in(ref, std::ios::binary);
    std::stringstream current;
    current << in.rdbuf();
    if (in && current.str() == commit) return;
  }
  fs::create_directories(ref.parent_path(), ec);
  const fs::path temporary = ref.string() + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << commit;
    if (!out) fail(temporary.string() + ": cannot write");
  }
  fs::rename(temporary, ref, ec);
  if (ec) fail(ref.string() + ": cannot write: " + ec.message());
}

FetchResult Fetcher::run() {
  // 1. The commit and the file list.
  std::string api_url = endpoint_ + "/api/models/" + options_.repo_id + "/revision/" +
                        url_quote(options_.revision, /*keep_slash=*/false);
  const HttpResponse info = request_on_hub("GET", api_url, /*identity=*/false, "");
  if (info.status != 200) http_error(api_url, info, "");
  const auto doc = nlohmann::json::parse(info.body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) fail(api_url + ": the answer is not a JSON object");
  if (!doc.contains("sha") || !doc["sha"].is_string() ||
      !is_hex(doc["sha"].get<std::string>(), 40)) {
    fail(api_url + ": \"sha\": expected a 40-digit hex commit");
  }
  const std::string commit = doc["sha"].get<std::string>();
  if (!doc.contains("siblings") || !doc["siblings"].is_array()) {
    fail(api_url + ": \"siblings\": expected a list of files");
  }
  std::vector<std::string> files;
  for (size_t i = 0; i < doc["siblings"].size(); ++i) {
    const auto& entry = doc["siblings"][i];
    const std::string where = api_url + ": siblings[" + std::to_string(i) + "].rfilename";
    if (!entry.is_object() || !entry.contains("rfilename") || !entry["rfilename"].is_string()) {
      fail(where + ": expected a string");
    }
    const std::string path = entry["rfilename"].get<std::string>();
    if (!is_safe_repo_path(path)) fail(where + ": \"" + path + "\" is not a relative file path");
    files.push_back(path);
  }

  // 2. The selection; the default one reads modules.json (fetched first) for the module folders.
  std::map<std::string, FileMeta> metas;
  std::vector<std::string> selected;
  if (!options_.include.empty()) {
    selected = select_matching(files, options_.include);
    if (selected.empty()) {
      std::string patterns;
      for (const auto& p : options_.include) patterns += (patterns.empty() ? "" : " ") + p;
      throw Error(ErrorCode::kInvalidArgument, options_.repo_id + "@" + options_.revision +
                                                   ": no file matches --include " + patterns);
    }
  } else {
    std::vector<std::string> module_paths;
    if (std::find(files.begin(), files.end(), "modules.json") != files.end()) {
      fs::path modules = repo_dir_ / "snapshots" / commit / "modules.json";
      if (!linked(commit, "modules.json")) {
        FileMeta meta = file_metadata(commit, "modules.json");
        download_blob(meta);
        modules = blob_path(meta.etag);
        metas.emplace(meta.path, meta);
      }
      std::ifstream in(modules, std::ios::binary);
      std::stringstream text;
      text << in.rdbuf();
      try {
        module_paths = module_paths_from_modules_json(text.str());
      } catch (const std::exception& e) {
        throw Error(ErrorCode::kInvalidModel,
                    options_.repo_id + "@" + commit + ": modules.json: " + e.what());
      }
    }
    selected = select_default(files, module_paths);
    if (selected.empty()) {
      throw Error(ErrorCode::kInvalidModel,
                  options_.repo_id + "@" + options_.revision +
                      ": holds none of the files embedrt reads (config.json, tokenizer.json, "
                      "*.safetensors, ...); use --include to fetch other files");
    }
  }

  // 3. Metadata of the files not in the snapshot yet, then their blobs.
  for (const auto& path : selected) {
    if (metas.count(path) || linked(commit, path)) continue;
    metas.emplace(path, file_metadata(commit, path));
  }
  progress_ = FetchProgress{};  // modules.json (above) is not part of the count
  std::error_code ec;
  for (const auto& [path, meta] : metas) {
    if (fs::exists(blob_path(meta.etag), ec)) continue;
    progress_.files_total += 1;
    progress_.bytes_total += meta.size.value_or(0);
  }
  report();
  for (const auto& [path, meta] : metas) download_blob(meta);  // skips the blobs already there

  // 4. Only now the snapshot and the ref: every file they point to is complete.
  for (const auto& [path, meta] : metas) link(commit, meta);
  write_ref(commit);
  FetchResult result;
  result.downloaded_files = downloaded_files_;
  result.downloaded_bytes = received_bytes_;
  result.commit = commit;
  result.snapshot = repo_dir_ / "snapshots" / commit;
  result.files = selected;
  return result;
}

}  // namespace

std::string repo_folder_name(const std::string& repo_id) {
  std::string name = "models--" + repo_id;
  if (const auto slash = name.find('/'); slash != std::string::npos) name.replace(slash, 1, "--");
  return name;
}

void split_model_id(const std::string& model, std::string& repo_id, std::string& revision) {
  const auto at = model.find('@');
  repo_id = model.substr(0, at);
  revision = at == std::string::npos ? "main" : model.substr(at + 1);
}

FetchResult fetch_snapshot(const FetchOptions& options, const FetchCallbacks& callbacks) {
  if (!is_valid_repo_id(options.repo_id)) {
    throw Error(ErrorCode::kInvalidArgument,
                "\"" + options.repo_id +
                    "\" is not a Hub repository id (org/name: letters, digits, '-', '_', '.')");
  }
  if (!is_valid_revision(options.revision)) {
    throw Error(ErrorCode::kInvalidArgument,
                "\"" + options.revision + "\" is not a revision (branch, tag or commit)");
  }
  if (options.cache_dir.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "no Hugging Face cache folder: set HF_HUB_CACHE or HF_HOME, or pass --cache-dir");
  }
  Fetcher fetcher(options, callbacks);
  return fetcher.run();
}

}  // namespace embedrt::hub
