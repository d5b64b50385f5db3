// Writes embeddings as jsonl (one JSON array per text), npy (NumPy format 1.0, [N, D]) or tsv
// (one tab-separated row per text). float32 rows are floats in shortest round-trip form (npy
// '<f4'); quantized rows (embedrt/quantization.h) are integers, signed for int8 and binary
// (npy '|i1'), unsigned for uint8 and ubinary ('|u1'), binary ones packed 8 values per byte.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "embedrt/quantization.h"
#include "output_file.h"

namespace embedrt::cli {

enum class OutputFormat { kJsonl, kNpy, kTsv };

class EmbeddingWriter {
 public:
  virtual ~EmbeddingWriter() = default;
  // `values` holds `rows` rows of `dimension` floats; every call uses the same dimension.
  virtual void write_rows(std::span<const float> values, size_t rows, size_t dimension) = 0;
  // Completes the output (npy fixes its header) and commits the file.
  virtual void finish() = 0;
};

// `ranges` must outlive the writer; int8/uint8 need them to match the rows' dimension.
std::unique_ptr<EmbeddingWriter> make_embedding_writer(
    OutputFormat format, OutputFile& output, OutputPrecision precision = OutputPrecision::kFloat32,
    const QuantizationRanges* ranges = nullptr);

// Shortest decimal form that reads back as the same float.
void append_float(std::string& out, float value);

}  // namespace embedrt::cli
