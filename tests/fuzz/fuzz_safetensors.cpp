// Arbitrary bytes as a .safetensors file (8-byte header length, JSON header, data section) opened
// through SafeTensorsFile, which only takes a path: each input is written to an in-memory file and
// opened as /proc/self/fd/N. Opening must either succeed or throw embedrt::Error; every tensor a
// file reports must lie inside its data section with a byte size matching dtype and shape, and
// must read (and convert to fp32 / fp16 when the dtype allows) without a fault.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "embedrt/error.h"
#include "model/safetensors.h"

namespace {

using embedrt::model::DType;

// A broken invariant: says which before libFuzzer reports the crash and saves the input.
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

int memory_file() {
  static const int fd = ::memfd_create("fuzz.safetensors", MFD_CLOEXEC);
  if (fd < 0) fail("memfd_create");
  return fd;
}

bool converts_to_float(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = memory_file();
  if (::ftruncate(fd, 0) != 0) fail("ftruncate");
  for (size_t done = 0; done < size;) {
    const ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    if (n <= 0) fail("pwrite");
    done += static_cast<size_t>(n);
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0 && size >= 8; --i) header_len = (header_len << 8) | data[i];

  try {
    const embedrt::model::SafeTensorsFile file("/proc/self/fd/" + std::to_string(fd));
    if (size < 8 || header_len > size - 8) fail("opened a file whose header runs past its end");
    const uint64_t data_size = size - 8 - header_len;
    const auto* section = reinterpret_cast<const std::byte*>(data) + 8 + header_len;
    for (const auto& [name, tensor] : file.tensors()) {
      if (tensor.name != name) fail("tensor name differs from its key");
      if (tensor.data_begin > data_size || tensor.data_size > data_size - tensor.data_begin) {
        fail("tensor bytes outside the data section");
      }
      uint64_t elements = 1;
      for (const int64_t d : tensor.shape) {
        if (d < 0) fail("negative dimension in a shape");
        elements *= static_cast<uint64_t>(d);
      }
      if (tensor.num_elements() < 0 || uint64_t(tensor.num_elements()) != elements) {
        fail("num_elements() differs from the product of the shape");
      }
      if (elements * embedrt::model::dtype_size(tensor.dtype) != tensor.data_size) {
        fail("byte size differs from dtype size times elements");
      }
      const auto bytes = file.bytes(tensor);
      if (bytes.size() != tensor.data_size) fail("bytes() size differs from data_size");
      for (size_t i = 0; i < bytes.size(); ++i) {
        if (bytes[i] != section[tensor.data_begin + i]) fail("bytes() differ from the file's");
      }
      if (converts_to_float(tensor.dtype)) {
        if (file.to_float(name).size() != elements) fail("to_float() size");
        if (file.to_half(name).size() != elements) fail("to_half() size");
      } else {
        try {
          (void)file.to_float(name);
          fail("to_float() converted a dtype other than F32, F16 or BF16");
        } catch (const embedrt::Error&) {
        }
      }
    }
  } catch (const embedrt::Error&) {
  }
  return 0;
}
