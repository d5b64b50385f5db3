#include "model/model_location.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "embedrt/error.h"
#include "model/model_folder.h"

namespace embedrt::model {
namespace {

namespace fs = std::filesystem;

constexpr char kMain[] = "0123456789abcdef0123456789abcdef01234567";
constexpr char kOld[] = "fedcba9876543210fedcba9876543210fedcba98";

// A Hugging Face hub cache as huggingface_hub lays it out: refs/<revision> holds a commit,
// snapshots/<commit>/ holds relative symlinks into blobs/.
class ModelLocation : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("embedrt-location-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    paths_.embedrt_home = root_ / "embedrt";
    paths_.hf_hub_cache = root_ / "hub";
    fs::create_directories(paths_.embedrt_home / "models");
    const fs::path repo = paths_.hf_hub_cache / "models--org--tiny";
    add_snapshot(repo, kMain, "blob-main");
    add_snapshot(repo, kOld, "blob-old");
    write(repo / "refs" / "main", std::string(kMain) + "\n");
    write(repo / "refs" / "v1", kOld);
  }
  void TearDown() override { fs::remove_all(root_); }

  static void write(const fs::path& file, const std::string& content) {
    fs::create_directories(file.parent_path());
    std::ofstream(file) << content;
  }

  static void add_snapshot(const fs::path& repo, const std::string& commit,
                           const std::string& blob) {
    write(repo / "blobs" / blob, R"([{"idx": 0, "name": "0", "path": "",
      "type": "sentence_transformers.models.Transformer"}])");
    const fs::path snapshot = repo / "snapshots" / commit;
    fs::create_directories(snapshot);
    fs::create_symlink(fs::path("..") / ".." / "blobs" / blob, snapshot / "modules.json");
  }

  std::string error_of(const std::string& model) {
    try {
      resolve_model_location(model, paths_);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kIo);
      return e.what();
    }
    return "";
  }

  fs::path root_;
  ModelSearchPaths paths_;
};

TEST_F(ModelLocation, FolderFirstThenNameUnderHome) {
  EXPECT_EQ(resolve_model_location(root_.string(), paths_), root_);
  fs::create_directories(paths_.embedrt_home / "models" / "mine");
  EXPECT_EQ(resolve_model_location("mine", paths_), paths_.embedrt_home / "models" / "mine");
}

TEST_F(ModelLocation, HubIdResolvesThroughRefsAndSymlinks) {
  const fs::path repo = paths_.hf_hub_cache / "models--org--tiny";
  EXPECT_EQ(resolve_model_location("org/tiny", paths_), repo / "snapshots" / kMain);
  EXPECT_EQ(resolve_model_location("org/tiny@main", paths_), repo / "snapshots" / kMain);
  EXPECT_EQ(resolve_model_location("org/tiny@v1", paths_), repo / "snapshots" / kOld);
  EXPECT_EQ(resolve_model_location(std::string("org/tiny@") + kOld, paths_),
            repo / "snapshots" / kOld);
  // The symlinked files read as the folder's own.
  const ModelFolder folder = read_model_folder(resolve_model_location("org/tiny", paths_));
  EXPECT_EQ(folder.transformer_dir, repo / "snapshots" / kMain / "");
}

TEST_F(ModelLocation, BareHubNameAfterHome) {
  const fs::path repo = paths_.hf_hub_cache / "models--tiny";
  add_snapshot(repo, kMain, "blob");
  write(repo / "refs" / "main", kMain);
  EXPECT_EQ(resolve_model_location("tiny", paths_), repo / "snapshots" / kMain);
  fs::create_directories(paths_.embedrt_home / "models" / "tiny");
  EXPECT_EQ(resolve_model_location("tiny", paths_), paths_.embedrt_home / "models" / "tiny");
}

TEST_F(ModelLocation, MissingModelListsWhereItLooked) {
  const std::string missing = error_of("org/absent");
  EXPECT_NE(missing.find("org/absent: no such model; looked in org/absent (no such folder), "),
            std::string::npos)
      << missing;
  EXPECT_NE(missing.find((paths_.hf_hub_cache / "models--org--absent" / "refs" / "main").string()),
            std::string::npos)
      << missing;
  EXPECT_EQ(missing.find('\n'), std::string::npos);

  const std::string name = error_of("absent");
  EXPECT_NE(name.find((paths_.embedrt_home / "models" / "absent").string()), std::string::npos)
      << name;
  EXPECT_NE(name.find("models--absent"), std::string::npos) << name;
  EXPECT_NE(name.find("scripts/fetch_model.py absent"), std::string::npos) << name;

  EXPECT_NE(error_of("org/tiny@v2").find("refs/v2 (no such ref)"), std::string::npos);
  const std::string commit = "1111111111111111111111111111111111111111";
  EXPECT_NE(error_of("org/tiny@" + commit).find(commit + " (no such snapshot)"), std::string::npos);
  write(paths_.hf_hub_cache / "models--org--tiny" / "refs" / "broken", "not a commit");
  EXPECT_NE(error_of("org/tiny@broken").find("holds no commit hash"), std::string::npos);
  // Never a way out of the cache.
  EXPECT_EQ(error_of("org/tiny@../../x").find("refs/../"), std::string::npos);
  EXPECT_EQ(error_of("../tiny").find("models--"), std::string::npos);
}

TEST_F(ModelLocation, EmptyArgumentIsInvalid) {
  try {
    resolve_model_location("", paths_);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}

TEST(ModelSearchPaths, EnvironmentOrder) {
  const auto set = [](const char* name, const char* value) {
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  };
  const auto saved = [](const char* name) {
    const char* v = std::getenv(name);
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
  const auto hub_cache = saved("HF_HUB_CACHE"), hf_home = saved("HF_HOME"), home = saved("HOME");
  set("HOME", "/h");
  set("HF_HUB_CACHE", nullptr);
  set("HF_HOME", nullptr);
  EXPECT_EQ(ModelSearchPaths::from_environment().hf_hub_cache,
            fs::path("/h/.cache/huggingface/hub"));
  set("HF_HOME", "/hf");
  EXPECT_EQ(ModelSearchPaths::from_environment().hf_hub_cache, fs::path("/hf/hub"));
  set("HF_HUB_CACHE", "/cache");
  EXPECT_EQ(ModelSearchPaths::from_environment().hf_hub_cache, fs::path("/cache"));
  set("HF_HUB_CACHE", hub_cache ? hub_cache->c_str() : nullptr);
  set("HF_HOME", hf_home ? hf_home->c_str() : nullptr);
  set("HOME", home ? home->c_str() : nullptr);
}

}  // namespace
}  // namespace embedrt::model
