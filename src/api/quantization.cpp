#include "embedrt/quantization.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>

#include "embedrt/embedder.h"
#include "embedrt/error.h"

namespace embedrt {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void bad_file(const fs::path& path, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, path.string() + ": " + what);
}

// The value of `key` in a .npy header dict ("{'descr': '<f4', 'fortran_order': False, ...}"):
// the text from after "'key': " up to the next top-level ',' or '}'.
std::string header_field(const std::string& header, const std::string& key) {
  const size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) return {};
  size_t pos = header.find(':', at);
  if (pos == std::string::npos) return {};
  ++pos;
  while (pos < header.size() && header[pos] == ' ') ++pos;
  const char close = header[pos] == '(' ? ')' : (header[pos] == '\'' ? '\'' : 0);
  if (close != 0) {
    const size_t end = header.find(close, pos + 1);
    if (end == std::string::npos) return {};
    return header.substr(pos, end - pos + 1);
  }
  const size_t end = header.find_first_of(",}", pos);
  return header.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}

struct NpyMatrix {
  size_t rows = 0;
  size_t columns = 0;
  std::vector<float> values;  // float64 files are rounded to float32, as quantize_embeddings does
};

NpyMatrix read_npy_matrix(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, path.string() + ": cannot open");
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) {
    bad_file(path, "not a .npy file (no \\x93NUMPY magic)");
  }
  const auto major = static_cast<unsigned char>(magic[6]);
  if (major < 1 || major > 3) bad_file(path, "unsupported .npy version " + std::to_string(major));
  size_t header_length = 0;
  unsigned char length_bytes[4] = {0, 0, 0, 0};
  const size_t length_size = major == 1 ? 2 : 4;
  if (!in.read(reinterpret_cast<char*>(length_bytes), static_cast<std::streamsize>(length_size))) {
    bad_file(path, "truncated header");
  }
  for (size_t i = 0; i < length_size; ++i) header_length |= size_t(length_bytes[i]) << (8 * i);
  if (header_length > 65536)
    bad_file(path, "header of " + std::to_string(header_length) + " bytes");
  std::string header(header_length, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(header_length))) {
    bad_file(path, "truncated header");
  }
  const std::string descr = header_field(header, "descr");
  size_t element_size = 0;
  if (descr == "'<f4'") {
    element_size = 4;
  } else if (descr == "'<f8'") {
    element_size = 8;
  } else {
    bad_file(path, "dtype " + (descr.empty() ? std::string("(missing)") : descr) +
                       ", expected float32 or float64 ('<f4' or '<f8')");
  }
  if (header_field(header, "fortran_order") != "False") bad_file(path, "expected C order");
  const std::string shape = header_field(header, "shape");
  size_t rows = 0, columns = 0;
  {
    char tail = 0;
    unsigned long long a = 0, b = 0;
    if (std::sscanf(shape.c_str(), "(%llu, %llu%c", &a, &b, &tail) != 3 ||
        (tail != ')' && tail != ',')) {
      bad_file(path, "shape " + shape + ", expected two dimensions (rows, dimension)");
    }
    rows = a;
    columns = b;
  }
  constexpr size_t kMaxValues = size_t(1) << 31;
  if (columns == 0 || rows > kMaxValues / columns) {
    bad_file(path, "shape " + shape + " is empty or too large");
  }
  const size_t count = rows * columns;
  std::vector<char> raw(count * element_size);
  if (!in.read(raw.data(), static_cast<std::streamsize>(raw.size()))) {
    bad_file(path, "holds fewer values than its shape " + shape + " says");
  }
  NpyMatrix out{rows, columns, std::vector<float>(count)};
  static_assert(std::endian::native == std::endian::little);
  if (element_size == 4) {
    std::memcpy(out.values.data(), raw.data(), raw.size());
  } else {
    for (size_t i = 0; i < count; ++i) {
      double v;
      std::memcpy(&v, raw.data() + i * 8, 8);
      out.values[i] = static_cast<float>(v);
    }
  }
  return out;
}

void check_ranges(const QuantizationRanges& ranges, size_t dimension, OutputPrecision precision) {
  if (ranges.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string(to_string(precision)) +
                    " quantization needs calibration ranges (from calibration embeddings or saved "
                    "ranges)");
  }
  if (ranges.dimension() != dimension || ranges.maximum.size() != dimension) {
    throw Error(ErrorCode::kInvalidArgument,
                "calibration ranges are for " + std::to_string(ranges.dimension()) +
                    " dimensions, the embeddings have " + std::to_string(dimension));
  }
}

}  // namespace

std::string_view to_string(OutputPrecision precision) noexcept {
  switch (precision) {
    case OutputPrecision::kFloat32:
      return "float32";
    case OutputPrecision::kInt8:
      return "int8";
    case OutputPrecision::kUint8:
      return "uint8";
    case OutputPrecision::kBinary:
      return "binary";
    case OutputPrecision::kUbinary:
      return "ubinary";
  }
  return "float32";
}

OutputPrecision parse_output_precision(std::string_view name) {
  for (const auto p : {OutputPrecision::kFloat32, OutputPrecision::kInt8, OutputPrecision::kUint8,
                       OutputPrecision::kBinary, OutputPrecision::kUbinary}) {
    if (name == to_string(p)) return p;
  }
  throw Error(ErrorCode::kInvalidArgument,
              "output precision '" + std::string(name) +
                  "' is not one of float32, int8, uint8, binary, ubinary");
}

size_t quantized_row_bytes(OutputPrecision precision, size_t dimension) noexcept {
  switch (precision) {
    case OutputPrecision::kFloat32:
      return dimension * sizeof(float);
    case OutputPrecision::kInt8:
    case OutputPrecision::kUint8:
      return dimension;
    case OutputPrecision::kBinary:
    case OutputPrecision::kUbinary:
      return (dimension + 7) / 8;
  }
  return 0;
}

QuantizationRanges calibration_ranges(std::span<const float> values, size_t rows,
                                      size_t dimension) {
  if (rows == 0 || dimension == 0) {
    throw Error(ErrorCode::kInvalidArgument, "calibration needs at least one embedding");
  }
  if (values.size() != rows * dimension) {
    throw Error(ErrorCode::kInvalidArgument,
                "calibration values: " + std::to_string(values.size()) + " floats, expected " +
                    std::to_string(rows) + " x " + std::to_string(dimension));
  }
  QuantizationRanges ranges;
  ranges.minimum.assign(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(dimension));
  ranges.maximum = ranges.minimum;
  for (size_t r = 1; r < rows; ++r) {
    const float* row = values.data() + r * dimension;
    for (size_t c = 0; c < dimension; ++c) {
      ranges.minimum[c] = std::min(ranges.minimum[c], row[c]);
      ranges.maximum[c] = std::max(ranges.maximum[c], row[c]);
    }
  }
  return ranges;
}

QuantizationRanges load_quantization_ranges(const fs::path& path, bool as_ranges) {
  const NpyMatrix matrix = read_npy_matrix(path);
  if (!as_ranges) {
    if (matrix.rows == 0) bad_file(path, "holds no calibration embeddings");
    return calibration_ranges(matrix.values, matrix.rows, matrix.columns);
  }
  if (matrix.rows != 2) {
    bad_file(path, "shape (" + std::to_string(matrix.rows) + ", " + std::to_string(matrix.columns) +
                       "), expected ranges of shape (2, D)");
  }
  QuantizationRanges ranges;
  ranges.minimum.assign(matrix.values.begin(),
                        matrix.values.begin() + static_cast<std::ptrdiff_t>(matrix.columns));
  ranges.maximum.assign(matrix.values.begin() + static_cast<std::ptrdiff_t>(matrix.columns),
                        matrix.values.end());
  return ranges;
}

void save_quantization_ranges(const QuantizationRanges& ranges, const fs::path& path) {
  const size_t d = ranges.dimension();
  std::string dict =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, " + std::to_string(d) + "), }";
  // Magic (6) + version (2) + length (2) + dict, padded with spaces to a multiple of 64.
  const size_t total = (10 + dict.size() + 1 + 63) / 64 * 64;
  dict.resize(total - 10 - 1, ' ');
  dict.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(dict.size() & 0xFF));
  out.push_back(static_cast<char>(dict.size() >> 8));
  out += dict;
  out.append(reinterpret_cast<const char*>(ranges.minimum.data()), d * sizeof(float));
  out.append(reinterpret_cast<const char*>(ranges.maximum.data()), d * sizeof(float));
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file || !file.write(out.data(), static_cast<std::streamsize>(out.size())) || !file.flush()) {
    throw Error(ErrorCode::kIo, path.string() + ": cannot write");
  }
}

void quantize_row(std::span<const float> values, OutputPrecision precision,
                  const QuantizationRanges& ranges, uint8_t* out) {
  const size_t dimension = values.size();
  switch (precision) {
    case OutputPrecision::kFloat32:
      std::memcpy(out, values.data(), dimension * sizeof(float));
      return;
    case OutputPrecision::kInt8:
    case OutputPrecision::kUint8: {
      check_ranges(ranges, dimension, precision);
      // numpy, all in float32: steps = (max - min) / 255 (1 where 0),
      // q = clip(floor((x - min) / steps), 0, 255); int8 is q - 128.
      const uint8_t offset = precision == OutputPrecision::kInt8 ? 128 : 0;
      for (size_t c = 0; c < dimension; ++c) {
        const float start = ranges.minimum[c];
        float step = (ranges.maximum[c] - start) / 255.0f;
        if (step == 0.0f) step = 1.0f;
        const float q = std::floor((values[c] - start) / step);
        // NaN (which a finite model never yields) lands in bucket 0.
        const float clipped = q >= 255.0f ? 255.0f : (q > 0.0f ? q : 0.0f);
        out[c] = static_cast<uint8_t>(static_cast<uint8_t>(clipped) - offset);
      }
      return;
    }
    case OutputPrecision::kBinary:
    case OutputPrecision::kUbinary: {
      // numpy.packbits(x > 0): big-endian bits, the last byte padded with zeros; binary
      // subtracts 128 in uint8 (wrapping) and reads the result as int8, i.e. flips the top bit.
      const uint8_t flip = precision == OutputPrecision::kBinary ? 0x80 : 0x00;
      const size_t bytes = (dimension + 7) / 8;
      for (size_t b = 0; b < bytes; ++b) {
        uint8_t byte = 0;
        for (size_t bit = 0; bit < 8; ++bit) {
          const size_t c = b * 8 + bit;
          if (c < dimension && values[c] > 0.0f) byte |= uint8_t(0x80u >> bit);
        }
        out[b] = byte ^ flip;
      }
      return;
    }
  }
}

QuantizedEmbeddings quantize(std::span<const float> values, size_t rows, size_t dimension,
                             OutputPrecision precision, const QuantizationRanges& ranges) {
  if (values.size() != rows * dimension) {
    throw Error(ErrorCode::kInvalidArgument, "quantize: " + std::to_string(values.size()) +
                                                 " floats, expected " + std::to_string(rows) +
                                                 " x " + std::to_string(dimension));
  }
  if (precision == OutputPrecision::kInt8 || precision == OutputPrecision::kUint8) {
    check_ranges(ranges, dimension, precision);
  }
  QuantizedEmbeddings out;
  out.precision = precision;
  out.rows = rows;
  out.dimension = dimension;
  out.row_bytes = quantized_row_bytes(precision, dimension);
  out.bytes.resize(rows * out.row_bytes);
  for (size_t r = 0; r < rows; ++r) {
    quantize_row(values.subspan(r * dimension, dimension), precision, ranges,
                 out.bytes.data() + r * out.row_bytes);
  }
  return out;
}

QuantizedEmbeddings quantize(const Embeddings& embeddings, OutputPrecision precision,
                             const QuantizationRanges& ranges) {
  return quantize(embeddings.values, embeddings.rows, embeddings.dimension, precision, ranges);
}

}  // namespace embedrt
