#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "embedrt/error.h"
#include "kernels/cpu/quantize.h"

namespace embedrt::model {
namespace {

[[noreturn]] void fail(ErrorCode code, const std::filesystem::path& path, const std::string& what) {
  throw Error(code, path.string() + ": " + what);
}

constexpr std::pair<DType, const char*> kDTypeNames[] = {
    {DType::kF32, "F32"},   {DType::kF16, "F16"},        {DType::kBF16, "BF16"},
    {DType::kF64, "F64"},   {DType::kI64, "I64"},        {DType::kI32, "I32"},
    {DType::kI16, "I16"},   {DType::kI8, "I8"},          {DType::kU8, "U8"},
    {DType::kBool, "BOOL"}, {DType::kF8E4M3, "F8_E4M3"}, {DType::kF8E5M2, "F8_E5M2"}};

DType parse_dtype(const std::filesystem::path& path, const std::string& name,
                  const std::string& dtype) {
  for (const auto& [value, text] : kDTypeNames) {
    if (dtype == text) return value;
  }
  fail(ErrorCode::kUnsupported, path,
       "tensor '" + name + "': dtype: '" + dtype + "' is not a safetensors dtype embedrt knows");
}

bool converts_to_float(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16;
}

}  // namespace

std::string_view to_string(DType dtype) noexcept {
  for (const auto& [value, text] : kDTypeNames) {
    if (dtype == value) return text;
  }
  return "?";
}

size_t dtype_size(DType dtype) noexcept {
  switch (dtype) {
    case DType::kF64:
    case DType::kI64:
      return 8;
    case DType::kF32:
    case DType::kI32:
      return 4;
    case DType::kF16:
    case DType::kBF16:
    case DType::kI16:
      return 2;
    default:
      return 1;
  }
}

int64_t TensorInfo::num_elements() const noexcept {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

float half_to_float(uint16_t h) noexcept {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf / nan
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {
    // Subnormal half: renormalize.
    int e = -1;
    do {
      ++e;
      mantissa <<= 1;
    } while ((mantissa & 0x400) == 0);
    bits = sign | (uint32_t(112 - e) << 23) | ((mantissa & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_float(uint16_t b) noexcept {
  const uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

SafeTensorsFile::SafeTensorsFile(const std::filesystem::path& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorCode::kIo, path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail(ErrorCode::kIo, path, std::string("cannot stat: ") + std::strerror(err));
  }
  map_size_ = static_cast<size_t>(st.st_size);
  if (map_size_ < 8) {
    ::close(fd);
    fail(ErrorCode::kInvalidModel, path,
         "header length: file has " + std::to_string(map_size_) + " bytes, expected at least 8");
  }
  void* addr = ::mmap(nullptr, map_size_, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (addr == MAP_FAILED)
    fail(ErrorCode::kIo, path, std::string("cannot map: ") + std::strerror(err));
  map_ = static_cast<const std::byte*>(addr);

  try {
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | uint8_t(map_[i]);
    if (header_len > map_size_ - 8) {
      fail(ErrorCode::kInvalidModel, path,
           "header length " + std::to_string(header_len) + " runs past the end of the file (" +
               std::to_string(map_size_) + " bytes)");
    }
    data_ = map_ + 8 + header_len;
    data_size_ = map_size_ - 8 - header_len;
    const char* text = reinterpret_cast<const char*>(map_ + 8);
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(text, text + header_len);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e400
      fail(ErrorCode::kInvalidModel, path, std::string("header: invalid JSON: ") + e.what());
    }
    if (!header.is_object()) fail(ErrorCode::kInvalidModel, path, "header: expected a JSON object");

    for (const auto& [name, entry] : header.items()) {
      if (name == "__metadata__") {
        if (!entry.is_object()) {
          fail(ErrorCode::kInvalidModel, path, "header: __metadata__: expected an object");
        }
        for (const auto& [key, value] : entry.items()) {
          if (!value.is_string()) {
            fail(ErrorCode::kInvalidModel, path,
                 "header: __metadata__." + key + ": expected a string");
          }
          metadata_[key] = value.get<std::string>();
        }
        continue;
      }
      const std::string where = "tensor '" + name + "'";
      if (!entry.is_object()) fail(ErrorCode::kInvalidModel, path, where + ": expected an object");
      const auto dtype_it = entry.find("dtype");
      if (dtype_it == entry.end() || !dtype_it->is_string()) {
        fail(ErrorCode::kInvalidModel, path, where + ": dtype: expected a string");
      }
      TensorInfo info;
      info.name = name;
      info.dtype = parse_dtype(path, name, dtype_it->get<std::string>());
      const auto shape_it = entry.find("shape");
      if (shape_it == entry.end() || !shape_it->is_array()) {
        fail(ErrorCode::kInvalidModel, path, where + ": shape: expected an array of integers");
      }
      uint64_t elements = 1;
      for (const auto& dim : *shape_it) {
        if (!dim.is_number_unsigned()) {
          fail(ErrorCode::kInvalidModel, path,
               where + ": shape: expected non-negative integers, found " + dim.dump());
        }
        const uint64_t d = dim.get<uint64_t>();
        // After a 0 the element count stays 0 whatever follows, so each dimension is bounded too.
        if (d > uint64_t(std::numeric_limits<int64_t>::max())) {
          fail(ErrorCode::kInvalidModel, path,
               where + ": shape: dimension " + dim.dump() + " is too large");
        }
        if (d != 0 && elements > std::numeric_limits<uint64_t>::max() / 8 / d) {
          fail(ErrorCode::kInvalidModel, path, where + ": shape: too many elements");
        }
        elements *= d;
        info.shape.push_back(static_cast<int64_t>(d));
      }
      const auto offsets_it = entry.find("data_offsets");
      if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
          !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned()) {
        fail(ErrorCode::kInvalidModel, path,
             where + ": data_offsets: expected [begin, end] non-negative integers");
      }
      const uint64_t begin = (*offsets_it)[0].get<uint64_t>();
      const uint64_t end = (*offsets_it)[1].get<uint64_t>();
      if (begin > end || end > data_size_) {
        fail(ErrorCode::kInvalidModel, path,
             where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                 "] outside the data section of " + std::to_string(data_size_) + " bytes");
      }
      const uint64_t expected = elements * dtype_size(info.dtype);
      if (end - begin != expected) {
        fail(ErrorCode::kInvalidModel, path,
             where + ": data_offsets span " + std::to_string(end - begin) + " bytes, expected " +
                 std::to_string(expected) + " for " + std::string(to_string(info.dtype)) +
                 " with this shape");
      }
      info.data_begin = begin;
      info.data_size = end - begin;
      tensors_.emplace(name, std::move(info));
    }

    std::vector<const TensorInfo*> by_offset;
    for (const auto& [name, info] : tensors_) {
      if (info.data_size > 0) by_offset.push_back(&info);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](auto* a, auto* b) { return a->data_begin < b->data_begin; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      const TensorInfo& prev = *by_offset[i - 1];
      const TensorInfo& cur = *by_offset[i];
      if (cur.data_begin < prev.data_begin + prev.data_size) {
        fail(ErrorCode::kInvalidModel, path,
             "tensor '" + cur.name + "': data_offsets overlap tensor '" + prev.name + "'");
      }
    }
  } catch (...) {
    ::munmap(const_cast<std::byte*>(map_), map_size_);
    map_ = nullptr;
    throw;
  }
}

SafeTensorsFile::~SafeTensorsFile() {
  if (map_) ::munmap(const_cast<std::byte*>(map_), map_size_);
}

const TensorInfo& SafeTensorsFile::info(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    fail(ErrorCode::kInvalidModel, path_, "tensor '" + name + "' not found");
  }
  return it->second;
}

std::span<const std::byte> SafeTensorsFile::bytes(const TensorInfo& tensor) const {
  return {data_ + tensor.data_begin, tensor.data_size};
}

namespace {

// Elements [begin, begin + n) of a F32, F16 or BF16 tensor as fp32.
void convert_to_float(DType dtype, std::span<const std::byte> raw, size_t begin, size_t n,
                      float* out) {
  if (dtype == DType::kF32) {
    std::memcpy(out, raw.data() + 4 * begin, 4 * n);
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    uint16_t bits;
    std::memcpy(&bits, raw.data() + 2 * (begin + i), 2);
    out[i] = dtype == DType::kF16 ? half_to_float(bits) : bf16_to_float(bits);
  }
}

}  // namespace

const TensorInfo& SafeTensorsFile::float_tensor(const std::string& name) const {
  const TensorInfo& t = info(name);
  if (!converts_to_float(t.dtype)) {
    fail(ErrorCode::kUnsupported, path_,
         "tensor '" + name + "': dtype " + std::string(to_string(t.dtype)) +
             " is not supported (expected F32, F16 or BF16)");
  }
  return t;
}

std::vector<float> SafeTensorsFile::to_float(const std::string& name) const {
  const TensorInfo& t = float_tensor(name);
  if (t.data_size == 0) return {};  // a shape with a 0: nothing to copy (memcpy to null is UB)
  const auto raw = bytes(t);
  std::vector<float> out(static_cast<size_t>(t.num_elements()));
  convert_to_float(t.dtype, raw, 0, out.size(), out.data());
  release_pages(raw);
  return out;
}

std::vector<uint16_t> SafeTensorsFile::to_half(const std::string& name) const {
  const TensorInfo& t = float_tensor(name);
  if (t.data_size == 0) return {};  // a shape with a 0: nothing to copy (memcpy to null is UB)
  const auto raw = bytes(t);
  std::vector<uint16_t> out(static_cast<size_t>(t.num_elements()));
  if (t.dtype == DType::kF16) {
    std::memcpy(out.data(), raw.data(), raw.size());
  } else {
    constexpr size_t kBlock = 4096;
    std::vector<float> block(kBlock);
    for (size_t begin = 0; begin < out.size(); begin += kBlock) {
      const size_t n = std::min(kBlock, out.size() - begin);
      convert_to_float(t.dtype, raw, begin, n, block.data());
      kernels::float_to_half(block.data(), static_cast<int64_t>(n), out.data() + begin);
    }
  }
  release_pages(raw);
  return out;
}

std::vector<uint16_t> SafeTensorsFile::to_16bit(const std::string& name) const {
  const TensorInfo& t = info(name);
  if (t.dtype != DType::kF16 && t.dtype != DType::kBF16) {
    fail(ErrorCode::kUnsupported, path_,
         "tensor '" + name + "': dtype " + std::string(to_string(t.dtype)) +
             " is not a 16-bit float (expected F16 or BF16)");
  }
  if (t.data_size == 0) return {};
  const auto raw = bytes(t);
  std::vector<uint16_t> out(static_cast<size_t>(t.num_elements()));
  std::memcpy(out.data(), raw.data(), raw.size());
  release_pages(raw);
  return out;
}

MappedTensor SafeTensorsFile::map(const std::string& name) const {
  return MappedTensor(this, bytes(info(name)));
}

MappedTensor::MappedTensor(MappedTensor&& other) noexcept
    : file_(std::exchange(other.file_, nullptr)), bytes_(other.bytes_) {}

MappedTensor& MappedTensor::operator=(MappedTensor&& other) noexcept {
  if (this != &other) {
    if (file_) file_->release_pages(bytes_);
    file_ = std::exchange(other.file_, nullptr);
    bytes_ = other.bytes_;
  }
  return *this;
}

MappedTensor::~MappedTensor() {
  if (file_) file_->release_pages(bytes_);
}

// The converted copy is all the caller keeps, so the file pages behind it need not stay resident:
// without this, loading holds the whole mapping plus the whole float copy at once. The mapping is
// private and never written, so a later read of these bytes simply faults them in from the file.
void SafeTensorsFile::release_pages(std::span<const std::byte> range) const {
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(range.data()) & ~(page - 1);
  const auto end = reinterpret_cast<uintptr_t>(range.data() + range.size());
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace embedrt::model
