// Minimal reader for the little-endian, C-order .npy files the fixture scripts write.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace embedrt::testing {

template <typename T>
struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<T> data;
};

template <typename T>
const char* npy_descr();
template <>
inline const char* npy_descr<float>() {
  return "'<f4'";
}
template <>
inline const char* npy_descr<int32_t>() {
  return "'<i4'";
}

// Returns an empty array and records a test failure when the file is not a .npy of type T.
template <typename T>
NpyArray<T> read_npy(const std::filesystem::path& path) {
  NpyArray<T> out;
  std::ifstream in(path, std::ios::binary);
  std::string magic(8, '\0');
  if (!in.read(magic.data(), 8) || magic.compare(0, 6, "\x93NUMPY") != 0) {
    ADD_FAILURE() << path << ": not a .npy file";
    return out;
  }
  uint32_t header_len = 0;
  if (magic[6] == 1) {
    uint16_t len16 = 0;
    in.read(reinterpret_cast<char*>(&len16), 2);
    header_len = len16;
  } else {
    in.read(reinterpret_cast<char*>(&header_len), 4);
  }
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  if (header.find(npy_descr<T>()) == std::string::npos ||
      header.find("'fortran_order': False") == std::string::npos) {
    ADD_FAILURE() << path << ": unexpected header " << header;
    return out;
  }
  const size_t open = header.find('(', header.find("'shape'"));
  const size_t close = header.find(')', open);
  std::stringstream dims(header.substr(open + 1, close - open - 1));
  std::string dim;
  int64_t count = 1;
  while (std::getline(dims, dim, ',')) {
    if (dim.find_first_not_of(' ') == std::string::npos) continue;
    out.shape.push_back(std::stoll(dim));
    count *= out.shape.back();
  }
  out.data.resize(count);
  if (!in.read(reinterpret_cast<char*>(out.data.data()), count * sizeof(T))) {
    ADD_FAILURE() << path << ": truncated data";
  }
  return out;
}

}  // namespace embedrt::testing
