// Where a --model argument points: a folder, a name under $EMBEDRT_HOME/models, or a Hugging Face
// Hub id ("org/name[@revision]") already in the local Hugging Face cache. Nothing is downloaded.
#pragma once

#include <filesystem>
#include <string>

namespace embedrt::model {

struct ModelSearchPaths {
  std::filesystem::path embedrt_home;  // names are looked up in <embedrt_home>/models; empty: none
  std::filesystem::path hf_hub_cache;  // the Hugging Face hub cache; empty: none

  // EMBEDRT_HOME, else ~/.cache/embedrt; HF_HUB_CACHE, else HF_HOME/hub, else
  // ~/.cache/huggingface/hub (HOME unset: those left empty).
  static ModelSearchPaths from_environment();
};

// Resolves `model`, in order: an existing folder as is; a bare name (no '/', no '@') as
// <embedrt_home>/models/<name>; a Hub id `[org/]name[@revision]` (revision "main" by default) as
// <hf_hub_cache>/models--org--name/snapshots/<commit>, where <commit> is the revision itself when
// it is 40 hex digits and otherwise the content of refs/<revision>. Files in a snapshot may be
// symlinks into blobs/. Throws kInvalidArgument for an empty argument and kIo, in one line listing
// every place looked at, when none holds the model.
std::filesystem::path resolve_model_location(const std::string& model,
                                             const ModelSearchPaths& paths);

}  // namespace embedrt::model
