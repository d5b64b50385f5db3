// Quantized embeddings, byte for byte as sentence-transformers' quantize_embeddings():
//
//   embedrt::Embeddings out = embedder.encode(texts);
//   auto ranges = embedrt::calibration_ranges(calibration.values, calibration.rows, out.dimension);
//   embedrt::QuantizedEmbeddings q = embedrt::quantize(out, embedrt::OutputPrecision::kInt8,
//   ranges);
//
// Every row is quantized on its own, so a text's bytes never depend on the other texts it was
// encoded with. int8 and uint8 map each dimension's [minimum, maximum] onto 256 buckets; those
// ranges come from calibration embeddings the caller chooses (sentence-transformers defaults to
// the embeddings being quantized, which would make a row depend on its batch).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

namespace embedrt {

struct Embeddings;

enum class OutputPrecision {
  kFloat32,  // the floats unchanged (4 bytes per value, little-endian)
  kInt8,     // floor((x - minimum) / step) - 128, step = (maximum - minimum) / 255
  kUint8,    // floor((x - minimum) / step), clipped to [0, 255]
  kBinary,   // x > 0 as bits, 8 per byte, first value in the high bit (numpy.packbits), - 128
  kUbinary,  // the same bits as unsigned bytes
};
std::string_view to_string(OutputPrecision precision) noexcept;  // "float32", "int8", ...
// "float32", "int8", "uint8", "binary", "ubinary"; throws kInvalidArgument naming the value.
OutputPrecision parse_output_precision(std::string_view name);
// Bytes of one quantized row of `dimension` values: 4 * dimension, dimension, or ceil(dimension/8).
size_t quantized_row_bytes(OutputPrecision precision, size_t dimension) noexcept;

// Per-dimension minimum and maximum for int8/uint8 (sentence-transformers' `ranges`, [2, D]).
struct QuantizationRanges {
  std::vector<float> minimum;
  std::vector<float> maximum;
  size_t dimension() const noexcept { return minimum.size(); }
  bool empty() const noexcept { return minimum.empty(); }
};

// The ranges of `rows` calibration embeddings of `dimension` values each (row-major), as
// sentence-transformers computes them from calibration_embeddings. Throws kInvalidArgument for
// no rows or a size that is not rows * dimension.
QuantizationRanges calibration_ranges(std::span<const float> values, size_t rows, size_t dimension);

// A .npy file of float32 or float64, C order: [2, D] is read as ranges (row 0 the minimum, row 1
// the maximum) when `as_ranges`, else [N, D] as calibration embeddings whose ranges are returned.
// Throws kIo / kInvalidArgument naming the file and what is wrong with it.
QuantizationRanges load_quantization_ranges(const std::filesystem::path& path, bool as_ranges);
// Writes ranges as a float32 [2, D] .npy, readable by load_quantization_ranges(path, true) and
// usable as quantize_embeddings(..., ranges=numpy.load(path)).
void save_quantization_ranges(const QuantizationRanges& ranges, const std::filesystem::path& path);

struct QuantizedEmbeddings {
  OutputPrecision precision = OutputPrecision::kFloat32;
  size_t rows = 0;
  size_t dimension = 0;  // values per embedding before quantization
  size_t row_bytes = 0;  // quantized_row_bytes(precision, dimension)
  // Row-major [rows, row_bytes]. int8 and binary bytes are two's-complement int8 values.
  std::vector<uint8_t> bytes;

  std::span<const uint8_t> row(size_t i) const { return {bytes.data() + i * row_bytes, row_bytes}; }
};

// Quantizes `rows` embeddings of `dimension` floats. int8/uint8 need `ranges` of that dimension
// (kInvalidArgument naming both dimensions otherwise); the other precisions ignore them.
QuantizedEmbeddings quantize(std::span<const float> values, size_t rows, size_t dimension,
                             OutputPrecision precision, const QuantizationRanges& ranges = {});
QuantizedEmbeddings quantize(const Embeddings& embeddings, OutputPrecision precision,
                             const QuantizationRanges& ranges = {});
// One row into `out` (quantized_row_bytes(precision, values.size()) bytes), for callers that
// quantize as they go.
void quantize_row(std::span<const float> values, OutputPrecision precision,
                  const QuantizationRanges& ranges, uint8_t* out);

}  // namespace embedrt
