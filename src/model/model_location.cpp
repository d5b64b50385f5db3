#include "model/model_location.h"

#include <cstdlib>
#include <fstream>
#include <optional>
#include <vector>

#include "embedrt/error.h"

namespace embedrt::model {
namespace {

namespace fs = std::filesystem;

fs::path env_path(const char* name) {
  const char* value = std::getenv(name);
  return value && *value ? fs::path(value) : fs::path();
}

bool is_commit_hash(const std::string& revision) {
  if (revision.size() != 40) return false;
  for (const char c : revision) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// "name" or "org/name", each part a plain path component.
bool is_hub_id(const std::string& id) {
  const auto slash = id.find('/');
  const auto plain = [](const std::string& part) {
    return !part.empty() && part != "." && part != ".." &&
           part.find_first_of("/\\") == std::string::npos;
  };
  if (slash == std::string::npos) return plain(id);
  return plain(id.substr(0, slash)) && plain(id.substr(slash + 1));
}

bool plain_revision(const std::string& revision) {
  // Branch names may hold slashes (refs/pr/1); never a way out of refs/.
  if (revision.empty() || revision.front() == '/') return false;
  for (const auto& part : fs::path(revision)) {
    if (part == "..") return false;
  }
  return true;
}

std::string read_ref(const fs::path& file) {
  std::ifstream in(file);
  std::string commit;
  in >> commit;
  return commit;
}

// The snapshot folder for a Hub id, or nullopt with `looked` telling what was missing.
std::optional<fs::path> find_in_hub_cache(const fs::path& cache, const std::string& id,
                                          const std::string& revision, std::string& looked) {
  std::string folder_name = "models--" + id;
  if (const auto slash = folder_name.find('/'); slash != std::string::npos) {
    folder_name.replace(slash, 1, "--");
  }
  const fs::path repo = cache / folder_name;
  std::error_code ec;
  std::string commit = revision;
  if (!is_commit_hash(revision)) {
    const fs::path ref = repo / "refs" / revision;
    if (!fs::is_regular_file(ref, ec)) {
      looked = ref.string() + " (no such ref)";
      return std::nullopt;
    }
    commit = read_ref(ref);
    if (!is_commit_hash(commit)) {
      looked = ref.string() + " (holds no commit hash)";
      return std::nullopt;
    }
  }
  const fs::path snapshot = repo / "snapshots" / commit;
  if (!fs::is_directory(snapshot, ec)) {
    looked = snapshot.string() + " (no such snapshot)";
    return std::nullopt;
  }
  return snapshot;
}

}  // namespace

ModelSearchPaths ModelSearchPaths::from_environment() {
  ModelSearchPaths paths;
  const fs::path home = env_path("HOME");
  paths.embedrt_home = env_path("EMBEDRT_HOME");
  if (paths.embedrt_home.empty() && !home.empty()) paths.embedrt_home = home / ".cache" / "embedrt";
  paths.hf_hub_cache = env_path("HF_HUB_CACHE");
  if (paths.hf_hub_cache.empty() && !env_path("HF_HOME").empty()) {
    paths.hf_hub_cache = env_path("HF_HOME") / "hub";
  }
  if (paths.hf_hub_cache.empty() && !home.empty()) {
    paths.hf_hub_cache = home / ".cache" / "huggingface" / "hub";
  }
  return paths;
}

fs::path resolve_model_location(const std::string& model, const ModelSearchPaths& paths) {
  std::error_code ec;
  if (model.empty()) throw Error(ErrorCode::kInvalidArgument, "no model given");
  if (fs::is_directory(model, ec)) return fs::path(model);
  std::vector<std::string> looked{model + " (no such folder)"};

  const auto at = model.find('@');
  const std::string id = model.substr(0, at);
  const std::string revision = at == std::string::npos ? "main" : model.substr(at + 1);
  const bool bare_name = id.find('/') == std::string::npos && at == std::string::npos;
  if (bare_name && !paths.embedrt_home.empty()) {
    const fs::path named = paths.embedrt_home / "models" / id;
    if (fs::is_directory(named, ec)) return named;
    looked.push_back(named.string());
  }
  if (!paths.hf_hub_cache.empty() && is_hub_id(id) && plain_revision(revision)) {
    std::string what;
    if (auto snapshot = find_in_hub_cache(paths.hf_hub_cache, id, revision, what)) {
      return *snapshot;
    }
    looked.push_back(what);
  }
  std::string message = model + ": no such model; looked in ";
  for (size_t i = 0; i < looked.size(); ++i) message += (i ? ", " : "") + looked[i];
  if (bare_name) message += " (fetch it with scripts/fetch_model.py " + id + ")";
  throw Error(ErrorCode::kIo, message);
}

}  // namespace embedrt::model
