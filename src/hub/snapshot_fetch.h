// Downloads a Hugging Face Hub model repository into the Hugging Face cache, in the layout
// huggingface_hub's snapshot_download writes and embedrt's `--model org/name[@revision]` reads:
//
//   <cache>/models--org--name/blobs/<etag>                 file contents (etag: LFS sha256 or
//                                                          git blob id)
//   <cache>/models--org--name/snapshots/<commit>/<path>    relative symlinks to ../../blobs/<etag>
//   <cache>/models--org--name/refs/<revision>              the commit a branch or tag points to
//
// The Hub calls are huggingface_hub's: GET /api/models/<repo>/revision/<rev> for the commit and
// the file list, HEAD /<repo>/resolve/<commit>/<path> for each file's etag (X-Linked-Etag or
// ETag), size (X-Linked-Size or Content-Length) and location (a redirect to a CDN for LFS files),
// then GET of that location. Downloads go to blobs/<etag>.incomplete and resume from it with a
// Range request, within a run (after a broken connection) and across runs. A blob is renamed into
// place only after its size and digest are checked, and snapshot links and refs are written only
// after every selected blob is in place, so a snapshot never holds a partial file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace embedrt::hub {

struct FetchOptions {
  std::string repo_id;            // "org/name" (or "name")
  std::string revision = "main";  // branch, tag or 40-hex commit
  // Globs as huggingface_hub's allow_patterns; empty: what embedrt needs (select_default).
  std::vector<std::string> include;
  std::filesystem::path cache_dir;                  // the hub cache; models--org--name/ goes in it
  std::string endpoint = "https://huggingface.co";  // HF_ENDPOINT
  std::string token;                                // HF_TOKEN; sent as a Bearer token
  int retries = 5;  // attempts after a failed one, per request (reset by progress)
  long connect_timeout_s = 10;
  long stall_timeout_s = 30;  // no byte for this long cuts the connection (then retried)
  std::string user_agent = "embedrt";
};

struct FetchProgress {
  size_t files_done = 0;
  size_t files_total = 0;  // files to download (not those already in the cache)
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  std::string file;  // the file being downloaded
};

struct FetchResult {
  std::string commit;
  std::filesystem::path snapshot;  // <cache>/models--org--name/snapshots/<commit>
  std::vector<std::string> files;  // the selected files, repository paths
  size_t downloaded_files = 0;     // blobs fetched by this run
  uint64_t downloaded_bytes = 0;
};

struct FetchCallbacks {
  std::function<void(const FetchProgress&)> progress;  // called often; may be empty
  std::function<void(const std::string&)> warning;     // a retry and why; may be empty
};

// Throws embedrt::Error with a one-line message: kInvalidArgument for a malformed id, revision
// or glob selection that matches nothing; kIo for HTTP errors (naming the URL and the status;
// 401/403 mention HF_TOKEN, 404 says whether the repository, the revision or the file is
// missing), network failures after the retries, digest or size mismatches (naming the file;
// the partial download is deleted) and cache write failures.
FetchResult fetch_snapshot(const FetchOptions& options, const FetchCallbacks& callbacks = {});

// The cache's folder for a model repository: "models--org--name".
std::string repo_folder_name(const std::string& repo_id);

// "org/name[@revision]" into its parts (revision "main" when absent).
void split_model_id(const std::string& model, std::string& repo_id, std::string& revision);

}  // namespace embedrt::hub
