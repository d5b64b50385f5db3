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

bool is_signed(OutputPrecision precision) {
  return precision == OutputPrecision::kInt8 || precision == OutputPrecision::kBinary;
}

// The rows as the output precision's bytes (float32: the floats' own bytes).
class RowQuantizer {
 public:
  RowQuantizer(OutputPrecision precision, const QuantizationRanges* ranges)
      : precision_(precision), ranges_(ranges) {}

  OutputPrecision precision() const { return precision_; }
  size_t row_bytes(size_t dimension) const { return quantized_row_bytes(precision_, dimension); }

  // `rows` quantized rows, row_bytes(dimension) bytes each.
  std::span<const uint8_t> operator()(std::span<const float> values, size_t rows,
                                      size_t dimension) {
    if (rows == 0) return {};
    static const QuantizationRanges kNone;
    quantized_ = quantize(values.first(rows * dimension), rows, dimension, precision_,
                          ranges_ != nullptr ? *ranges_ : kNone);
    return quantized_.bytes;
  }

 private:
  OutputPrecision precision_;
  const QuantizationRanges* ranges_;
  QuantizedEmbeddings quantized_;
};

class DelimitedWriter final : public EmbeddingWriter {
 public:
  DelimitedWriter(OutputFile& output, bool json, RowQuantizer quantizer)
      : output_(output), json_(json), quantizer_(std::move(quantizer)) {}

  void write_rows(std::span<const float> values, size_t rows, size_t dimension) override {
    const bool floats = quantizer_.precision() == OutputPrecision::kFloat32;
    const size_t width = floats ? dimension : quantizer_.row_bytes(dimension);
    const std::span<const uint8_t> bytes =
        floats ? std::span<const uint8_t>{} : quantizer_(values, rows, dimension);
    const bool signed_bytes = is_signed(quantizer_.precision());
    std::string text;
    text.reserve(rows * width * (floats ? 12 : 5));
    char number[8];
    for (size_t r = 0; r < rows; ++r) {
      if (json_) text.push_back('[');
      for (size_t c = 0; c < width; ++c) {
        if (c > 0) text.push_back(json_ ? ',' : '\t');
        if (floats) {
          append_float(text, values[r * dimension + c]);
        } else {
          const uint8_t byte = bytes[r * width + c];
          const auto result = signed_bytes
                                  ? std::to_chars(number, number + sizeof number, int8_t(byte))
                                  : std::to_chars(number, number + sizeof number, byte);
          text.append(number, result.ptr);
        }
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
  RowQuantizer quantizer_;
};

class NpyWriter final : public EmbeddingWriter {
 public:
  NpyWriter(OutputFile& output, RowQuantizer quantizer)
      : output_(output), quantizer_(std::move(quantizer)) {
    if (output_.seekable()) output_.write(header(0, 0));
  }

  void write_rows(std::span<const float> values, size_t rows, size_t dimension) override {
    columns_ = quantizer_.precision() == OutputPrecision::kFloat32
                   ? dimension
                   : quantizer_.row_bytes(dimension);
    rows_ += rows;
    std::span<const char> bytes;
    if (quantizer_.precision() == OutputPrecision::kFloat32) {
      const auto raw = std::as_bytes(values.first(rows * dimension));
      bytes = {reinterpret_cast<const char*>(raw.data()), raw.size()};
    } else {
      const auto quantized = quantizer_(values, rows, dimension);
      bytes = {reinterpret_cast<const char*>(quantized.data()), quantized.size()};
    }
    if (output_.seekable()) {
      output_.write({bytes.data(), bytes.size()});
    } else {
      // A pipe cannot be rewound to fix the row count, so the rows wait for the end.
      pending_.insert(pending_.end(), bytes.begin(), bytes.end());
    }
  }

  void finish() override {
    if (output_.seekable()) {
      output_.overwrite(0, header(rows_, columns_));
    } else {
      output_.write(header(rows_, columns_));
      output_.write({pending_.data(), pending_.size()});
    }
    output_.commit();
  }

 private:
  // A fixed 128-byte header, so that the final shape can be written over the first one.
  std::string header(size_t rows, size_t columns) const {
    const char* descr = quantizer_.precision() == OutputPrecision::kFloat32 ? "<f4"
                        : is_signed(quantizer_.precision())                 ? "|i1"
                                                                            : "|u1";
    std::string dict = std::string("{'descr': '") + descr +
                       "', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                       std::to_string(columns) + "), }";
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
  RowQuantizer quantizer_;
  size_t rows_ = 0;
  size_t columns_ = 0;
  std::vector<char> pending_;
};

}  // namespace

std::unique_ptr<EmbeddingWriter> make_embedding_writer(OutputFormat format, OutputFile& output,
                                                       OutputPrecision precision,
                                                       const QuantizationRanges* ranges) {
  RowQuantizer quantizer(precision, ranges);
  switch (format) {
    case OutputFormat::kJsonl:
      return std::make_unique<DelimitedWriter>(output, true, std::move(quantizer));
    case OutputFormat::kTsv:
      return std::make_unique<DelimitedWriter>(output, false, std::move(quantizer));
    case OutputFormat::kNpy:
      return std::make_unique<NpyWriter>(output, std::move(quantizer));
  }
  throw Error(ErrorCode::kInvalidArgument, "unknown output format");
}

}  // namespace embedrt::cli
