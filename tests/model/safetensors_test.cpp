#include "model/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "embedrt/error.h"

namespace embedrt::model {
namespace {

namespace fs = std::filesystem;

class SafeTensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("embedrt_safetensors_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes header length + header text + data bytes.
  fs::path write(const std::string& header, const std::string& data,
                 const std::string& name = "model.safetensors", int64_t length_field = -1) {
    const fs::path path = dir_ / name;
    std::ofstream out(path, std::ios::binary);
    const uint64_t len = length_field >= 0 ? uint64_t(length_field) : header.size();
    for (int i = 0; i < 8; ++i) out.put(char((len >> (8 * i)) & 0xff));
    out << header << data;
    return path;
  }

  // Expects opening `path` to fail with `code` and a message naming the file and `field`.
  void expect_error(const fs::path& path, ErrorCode code, const std::string& field) {
    try {
      SafeTensorsFile file(path);
      FAIL() << "expected an error mentioning " << field;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(e.code(), code) << msg;
      EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
      EXPECT_NE(msg.find(field), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }

  static std::string floats(std::initializer_list<float> values) {
    std::string bytes(values.size() * 4, '\0');
    std::memcpy(bytes.data(), values.begin(), bytes.size());
    return bytes;
  }

  fs::path dir_;
};

TEST_F(SafeTensorsTest, ReadsTensorsMetadataAndF32Values) {
  const std::string header = R"({"__metadata__":{"format":"pt"},)"
                             R"("b":{"dtype":"F32","shape":[3],"data_offsets":[8,20]},)"
                             R"("a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}})";
  const auto path = write(header, floats({1.5f, -2.0f, 3.0f, 4.0f, 5.25f}));
  SafeTensorsFile file(path);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  ASSERT_EQ(file.tensors().size(), 2u);
  EXPECT_EQ(file.info("a").shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(file.to_float("a"), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(file.to_float("b"), (std::vector<float>{3.0f, 4.0f, 5.25f}));
}

TEST_F(SafeTensorsTest, ConvertsF16AndBF16) {
  // F16: 1.0, -2.5, 65504 (max), 2^-24 (smallest subnormal), -0.0, inf.
  const uint16_t f16[] = {0x3c00, 0xc100, 0x7bff, 0x0001, 0x8000, 0x7c00};
  // BF16: 1.0, -3.140625, 1e38-ish.
  const uint16_t bf16[] = {0x3f80, 0xc049, 0x7e96};
  std::string data(sizeof(f16) + sizeof(bf16), '\0');
  std::memcpy(data.data(), f16, sizeof(f16));
  std::memcpy(data.data() + sizeof(f16), bf16, sizeof(bf16));
  const auto path = write(R"({"h":{"dtype":"F16","shape":[6],"data_offsets":[0,12]},)"
                          R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[12,18]}})",
                          data);
  SafeTensorsFile file(path);
  const auto h = file.to_float("h");
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -2.5f);
  EXPECT_EQ(h[2], 65504.0f);
  EXPECT_EQ(h[3], std::ldexp(1.0f, -24));
  EXPECT_TRUE(h[4] == 0.0f && std::signbit(h[4]));
  EXPECT_TRUE(std::isinf(h[5]));
  const auto b = file.to_float("b");
  EXPECT_EQ(b[0], 1.0f);
  EXPECT_EQ(b[1], -3.140625f);
  EXPECT_EQ(b[2], 0x1.2cp+126f);
  // The 16-bit values as stored, for bf16 and int8 modes that keep a 16-bit table.
  EXPECT_EQ(file.to_16bit("h"), std::vector<uint16_t>(std::begin(f16), std::end(f16)));
  EXPECT_EQ(file.to_16bit("b"), std::vector<uint16_t>(std::begin(bf16), std::end(bf16)));
}

TEST_F(SafeTensorsTest, SixteenBitReadRejectsOtherDtypes) {
  const auto path = write(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", floats({1}));
  SafeTensorsFile file(path);
  try {
    file.to_16bit("w");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("F32"), std::string::npos) << msg;
  }
}

TEST_F(SafeTensorsTest, HalfConversionMatchesEveryFiniteValue) {
  // Every finite half value, compared with the F16C-free definition value = m * 2^(e - 25).
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const uint32_t e = (bits >> 10) & 0x1f, m = bits & 0x3ff;
    if (e == 0x1f) continue;
    const float magnitude =
        e == 0 ? std::ldexp(float(m), -24) : std::ldexp(float(m | 0x400), int(e) - 25);
    const float expected = (bits & 0x8000) ? -magnitude : magnitude;
    ASSERT_EQ(half_to_float(uint16_t(bits)), expected) << std::hex << bits;
  }
}

TEST_F(SafeTensorsTest, TruncatedFileIsAnError) {
  const auto path = dir_ / "short.safetensors";
  std::ofstream(path, std::ios::binary) << "abc";
  expect_error(path, ErrorCode::kInvalidModel, "header length");
}

TEST_F(SafeTensorsTest, HeaderLengthBeyondFileIsAnError) {
  const auto path = write(R"({})", "", "model.safetensors", 1000);
  expect_error(path, ErrorCode::kInvalidModel, "header length 1000");
}

TEST_F(SafeTensorsTest, InvalidJsonIsAnError) {
  expect_error(write(R"({"a": {"dtype": )", ""), ErrorCode::kInvalidModel, "invalid JSON");
}

TEST_F(SafeTensorsTest, NumberTooLargeForADoubleIsInvalidJson) {
  // nlohmann::json throws out_of_range, not parse_error, for a number it cannot hold.
  expect_error(write(R"({"w":{"dtype":"F32","shape":[1e400],"data_offsets":[0,4]}})", floats({1})),
               ErrorCode::kInvalidModel, "header: invalid JSON");
}

TEST_F(SafeTensorsTest, WrongFieldTypesAreErrors) {
  expect_error(write(R"([1, 2])", ""), ErrorCode::kInvalidModel, "expected a JSON object");
  expect_error(write(R"({"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", floats({1})),
               ErrorCode::kInvalidModel, "tensor 'w': dtype");
  expect_error(write(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", floats({1})),
               ErrorCode::kInvalidModel, "tensor 'w': shape");
  expect_error(write(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", floats({1})),
               ErrorCode::kInvalidModel, "tensor 'w': data_offsets");
  expect_error(write(R"({"__metadata__":{"k":1}})", ""), ErrorCode::kInvalidModel,
               "__metadata__.k");
}

TEST_F(SafeTensorsTest, DimensionBeyondInt64IsAnError) {
  // After a 0 the element count stays 0, so the overflow check let any dimension through and
  // 2^64 - 1 became -1 in TensorInfo::shape.
  expect_error(
      write(R"({"w":{"dtype":"F32","shape":[0,18446744073709551615],"data_offsets":[0,0]}})", ""),
      ErrorCode::kInvalidModel, "tensor 'w': shape: dimension 18446744073709551615 is too large");
  expect_error(
      write(R"({"w":{"dtype":"F32","shape":[0,9223372036854775808],"data_offsets":[0,0]}})", ""),
      ErrorCode::kInvalidModel, "tensor 'w': shape");
  const auto path =
      write(R"({"w":{"dtype":"F32","shape":[0,9223372036854775807],"data_offsets":[0,0]}})", "");
  EXPECT_EQ(SafeTensorsFile(path).info("w").shape,
            (std::vector<int64_t>{0, std::numeric_limits<int64_t>::max()}));
}

TEST_F(SafeTensorsTest, OffsetsOutsideDataAreAnError) {
  expect_error(write(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", floats({1, 2})),
               ErrorCode::kInvalidModel, "tensor 'w': data_offsets [4, 12] outside");
}

TEST_F(SafeTensorsTest, OverlappingTensorsAreAnError) {
  expect_error(write(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                     R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                     floats({1, 2, 3})),
               ErrorCode::kInvalidModel, "tensor 'b': data_offsets overlap tensor 'a'");
}

TEST_F(SafeTensorsTest, ByteSizeMismatchIsAnError) {
  expect_error(
      write(R"({"w":{"dtype":"F16","shape":[2,2],"data_offsets":[0,12]}})", floats({1, 2, 3})),
      ErrorCode::kInvalidModel, "tensor 'w': data_offsets span 12 bytes, expected 8");
}

TEST_F(SafeTensorsTest, UnknownDtypeIsUnsupported) {
  expect_error(write(R"({"w":{"dtype":"Q4_K","shape":[1],"data_offsets":[0,4]}})", floats({1})),
               ErrorCode::kUnsupported, "tensor 'w': dtype: 'Q4_K'");
}

TEST_F(SafeTensorsTest, NonFloatDtypeOpensButDoesNotConvert) {
  const auto path =
      write(R"({"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})", std::string(16, '\0'));
  SafeTensorsFile file(path);
  try {
    file.to_float("ids");
    FAIL() << "expected kUnsupported";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("tensor 'ids': dtype I64"), std::string::npos) << msg;
  }
}

TEST_F(SafeTensorsTest, TensorsWithNoElementsConvertToEmptyVectors) {
  // Copying zero bytes into an empty vector passed a null pointer to memcpy (undefined behavior
  // that UndefinedBehaviorSanitizer reports).
  const auto path = write(R"({"a":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},)"
                          R"("b":{"dtype":"F16","shape":[3,0],"data_offsets":[0,0]},)"
                          R"("c":{"dtype":"BF16","shape":[0],"data_offsets":[0,0]}})",
                          "");
  SafeTensorsFile file(path);
  for (const char* name : {"a", "b", "c"}) {
    EXPECT_TRUE(file.to_float(name).empty()) << name;
    EXPECT_TRUE(file.to_half(name).empty()) << name;
  }
}

TEST_F(SafeTensorsTest, MissingFileAndMissingTensorAreErrors) {
  expect_error(dir_ / "absent.safetensors", ErrorCode::kIo, "cannot open");
  const auto path = write(R"({})", "");
  SafeTensorsFile file(path);
  EXPECT_THROW(file.info("nope"), Error);
}

}  // namespace
}  // namespace embedrt::model
