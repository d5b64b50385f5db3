#include "embedding_writer.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <vector>

#include "embedrt/error.h"

namespace embedrt::cli {

void append_float(std::string& out, float value) {
  if (!std::isfinite(value)) {
    // JSON has no NaN or infinity; the encoder never produces them from finite weights.
    throw Error(ErrorCode::kInternal, "embedding contains a non-finite value");
  }
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

namespace {

class DelimitedWriter final : public EmbeddingWriter {
 public:
  DelimitedWriter(OutputFile& output, bool json) : output_(output), json_(json) {}

  void write_rows(std::span<const float> values, size_t rows, size_t dimension) override {
    std::string text;
    text.reserve(rows * dimension * 12);
    for (size_t r = 0; r < rows; ++r) {
      if (json_) text.push_back('[');
      for (size_t c = 0; c < dimension; ++c) {
        if (c > 0) text.push_back(json_ ? ',' : '\t');
        append_float(text, values[r * dimension + c]);
      }
      if (json_) text.push_back(']');
      text.push_back('\n');
    }
    output_.write(text);
  }

  void finish() override { output_.commit(); }

 private:
  OutputFile& output_;
  bool json_;
};

class NpyWriter final : public EmbeddingWriter {
 public:
  explicit NpyWriter(OutputFile& output) : output_(output) {
    if (output_.seekable()) output_.write(header(0, 0));
  }

  void write_rows(std::span<const float> values, size_t rows, size_t dimension) override {
    dimension_ = dimension;
    rows_ += rows;
    const auto bytes = std::as_bytes(values.first(rows * dimension));
    if (output_.seekable()) {
      output_.write({reinterpret_cast<const char*>(bytes.data()), bytes.size()});
    } else {
      // A pipe cannot be rewound to fix the row count, so the rows wait for the end.
      pending_.insert(pending_.end(), values.begin(), values.begin() + rows * dimension);
    }
  }

  void finish() override {
    if (output_.seekable()) {
      output_.overwrite(0, header(rows_, dimension_));
    } else {
      output_.write(header(rows_, dimension_));
      output_.write({reinterpret_cast<const char*>(pending_.data()), pending_.size() * 4});
    }
    output_.commit();
  }

 private:
  // A fixed 128-byte header, so that the final shape can be written over the first one.
  static std::string header(size_t rows, size_t dimension) {
    std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(rows) + ", " + std::to_string(dimension) + "), }";
    constexpr size_t kHeaderSize = 128;
    const size_t prefix = 10;
    dict.resize(kHeaderSize - prefix - 1, ' ');
    dict.push_back('\n');
    std::string out("\x93NUMPY\x01\x00", 8);
    const auto length = static_cast<uint16_t>(dict.size());
    out.push_back(static_cast<char>(length & 0xFF));
    out.push_back(static_cast<char>(length >> 8));
    return out + dict;
  }

  OutputFile& output_;
  size_t rows_ = 0;
  size_t dimension_ = 0;
  std::vector<float> pending_;
};

}  // namespace

std::unique_ptr<EmbeddingWriter> make_embedding_writer(OutputFormat format, OutputFile& output) {
  switch (format) {
    case OutputFormat::kJsonl:
      return std::make_unique<DelimitedWriter>(output, true);
    case OutputFormat::kTsv:
      return std::make_unique<DelimitedWriter>(output, false);
    case OutputFormat::kNpy:
      return std::make_unique<NpyWriter>(output);
  }
  throw Error(ErrorCode::kInvalidArgument, "unknown output format");
}

}  // namespace embedrt::cli
