// Writes embeddings as jsonl (one JSON array per text, floats in shortest round-trip form),
// npy (float32 [N, D], NumPy format 1.0) or tsv (one tab-separated row per text).
#pragma once

#include <memory>
#include <span>
#include <string>

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

std::unique_ptr<EmbeddingWriter> make_embedding_writer(OutputFormat format, OutputFile& output);

// Shortest decimal form that reads back as the same float.
void append_float(std::string& out, float value);

}  // namespace embedrt::cli
