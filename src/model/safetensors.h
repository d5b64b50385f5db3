// Read-only, memory-mapped access to a .safetensors file.
//
// Layout: 8-byte little-endian header length N, N bytes of JSON header
// ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}), then the
// data section that data_offsets index into. Everything is validated when the file is opened.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace embedrt::model {

// Every dtype the format defines, so that files with integer buffers (e.g. position_ids) open;
// only F32, F16 and BF16 convert to fp32.
enum class DType { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool, kF8E4M3, kF8E5M2 };

std::string_view to_string(DType dtype) noexcept;
size_t dtype_size(DType dtype) noexcept;

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  size_t data_begin = 0;  // byte offset into the data section
  size_t data_size = 0;   // bytes

  int64_t num_elements() const noexcept;
};

class SafeTensorsFile;

// A tensor's bytes read in place from the mapping, without a copy. Its file pages are dropped
// from memory when this is destroyed (as to_float drops them once converted), so the pages of a
// layer read this way go once the layer is packed. The file must outlive it.
class MappedTensor {
 public:
  MappedTensor() = default;
  MappedTensor(MappedTensor&& other) noexcept;
  MappedTensor& operator=(MappedTensor&& other) noexcept;
  ~MappedTensor();

  const std::byte* data() const noexcept { return bytes_.data(); }
  size_t size() const noexcept { return bytes_.size(); }
  bool empty() const noexcept { return file_ == nullptr; }

 private:
  friend class SafeTensorsFile;
  MappedTensor(const SafeTensorsFile* file, std::span<const std::byte> bytes)
      : file_(file), bytes_(bytes) {}

  const SafeTensorsFile* file_ = nullptr;
  std::span<const std::byte> bytes_;
};

class SafeTensorsFile {
 public:
  // Maps and validates `path`; throws embedrt::Error (kIo, kInvalidModel or kUnsupported) with a
  // message naming the file and the offending tensor or field.
  explicit SafeTensorsFile(const std::filesystem::path& path);
  ~SafeTensorsFile();
  SafeTensorsFile(const SafeTensorsFile&) = delete;
  SafeTensorsFile& operator=(const SafeTensorsFile&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  const std::map<std::string, TensorInfo>& tensors() const noexcept { return tensors_; }
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }

  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws kInvalidModel naming the file and tensor when absent.
  const TensorInfo& info(const std::string& name) const;
  // The tensor's raw bytes inside the mapping.
  std::span<const std::byte> bytes(const TensorInfo& tensor) const;
  // The tensor converted to fp32, row-major; kUnsupported naming the tensor and its dtype unless
  // it is F32, F16 or BF16. The tensor's file pages are dropped from memory afterwards (see
  // release_pages).
  std::vector<float> to_float(const std::string& name) const;
  // The same as IEEE half-precision bits, converted a block at a time so that no full fp32 copy
  // ever exists.
  std::vector<uint16_t> to_half(const std::string& name) const;
  // An F16 or BF16 tensor's 16-bit values as stored (no rounding); kUnsupported naming the tensor
  // and its dtype otherwise. Its file pages are dropped from memory afterwards.
  std::vector<uint16_t> to_16bit(const std::string& name) const;
  // The tensor in place (see MappedTensor).
  MappedTensor map(const std::string& name) const;

 private:
  friend class MappedTensor;
  const TensorInfo& float_tensor(const std::string& name) const;
  void release_pages(std::span<const std::byte> range) const;

  std::filesystem::path path_;
  const std::byte* map_ = nullptr;
  size_t map_size_ = 0;
  const std::byte* data_ = nullptr;  // start of the data section
  size_t data_size_ = 0;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// IEEE half and bfloat16 to float.
float half_to_float(uint16_t bits) noexcept;
float bf16_to_float(uint16_t bits) noexcept;

}  // namespace embedrt::model
