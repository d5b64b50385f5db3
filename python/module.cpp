// The Python extension `embedrt._embedrt`: a thin layer over the public C++ API
// (include/embedrt/*.h). The user-facing classes are in python/embedrt/*.py; this module converts
// texts once per call, releases the GIL while the engine runs and hands results back as numpy
// arrays that own the engine's buffers (no copy).
#include <Python.h>
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "embedrt/embedder.h"
#include "embedrt/error.h"
#include "embedrt/model_kind.h"
#include "embedrt/profile.h"
#include "embedrt/quantization.h"
#include "embedrt/reranker.h"
#include "embedrt/sparse_encoder.h"
#include "embedrt/system.h"
#include "embedrt/text_tokenizer.h"

namespace nb = nanobind;

namespace {

// The exception classes of embedrt.errors, one per embedrt::ErrorCode, looked up at import.
struct ErrorClasses {
  nb::object by_code[6];
  nb::object invalid_argument;
};
ErrorClasses* error_classes = nullptr;

int code_index(embedrt::ErrorCode code) { return static_cast<int>(code); }

[[noreturn]] void raise_invalid_argument(const std::string& message) {
  PyErr_SetString(error_classes->invalid_argument.ptr(), message.c_str());
  throw nb::python_error();
}

std::string python_type_name(nb::handle object) { return Py_TYPE(object.ptr())->tp_name; }

// One str as UTF-8; `where` names it in errors. A lone surrogate (which no UTF-8 can carry) is an
// InvalidArgumentError; a non-str a TypeError.
std::string utf8_text(PyObject* item, const std::string& where) {
  if (!PyUnicode_Check(item)) {
    throw nb::type_error((where + " is " + Py_TYPE(item)->tp_name + ", not str").c_str());
  }
  Py_ssize_t size = 0;
  const char* utf8 = PyUnicode_AsUTF8AndSize(item, &size);
  if (utf8 == nullptr) {
    // Python's own message names the character and its position.
    nb::python_error cause;
    raise_invalid_argument(where + " cannot be encoded as UTF-8: " + cause.what() +
                           " (lone surrogates are not text; decode the source with "
                           "errors='replace' or 'ignore')");
  }
  return std::string(utf8, static_cast<size_t>(size));
}

// A Python sequence of str as UTF-8 strings, in one pass with the GIL held. A lone surrogate
// (which no UTF-8 can carry) is an InvalidArgumentError naming the index; a non-str a TypeError.
std::vector<std::string> utf8_texts(nb::handle sentences, const char* what) {
  PyObject* object = sentences.ptr();
  if (PyUnicode_Check(object) || PyBytes_Check(object) || PyByteArray_Check(object) ||
      !PySequence_Check(object)) {
    throw nb::type_error(
        (std::string(what) + " must be a list of str, not " + python_type_name(sentences)).c_str());
  }
  nb::object fast = nb::steal(PySequence_Fast(object, what));
  if (!fast.is_valid()) throw nb::python_error();
  const Py_ssize_t count = PySequence_Fast_GET_SIZE(fast.ptr());
  PyObject** items = PySequence_Fast_ITEMS(fast.ptr());
  std::vector<std::string> texts;
  texts.reserve(static_cast<size_t>(count));
  for (Py_ssize_t i = 0; i < count; ++i) {
    texts.push_back(utf8_text(items[i], std::string(what) + "[" + std::to_string(i) + "]"));
  }
  return texts;
}

// A Python sequence of (str, str) pairs (tuples, lists or any two-item sequence), as UTF-8.
std::vector<std::pair<std::string, std::string>> utf8_pairs(nb::handle pairs, const char* what) {
  PyObject* object = pairs.ptr();
  if (PyUnicode_Check(object) || PyBytes_Check(object) || !PySequence_Check(object)) {
    throw nb::type_error(
        (std::string(what) + " must be a list of (str, str) pairs, not " + python_type_name(pairs))
            .c_str());
  }
  nb::object fast = nb::steal(PySequence_Fast(object, what));
  if (!fast.is_valid()) throw nb::python_error();
  const Py_ssize_t count = PySequence_Fast_GET_SIZE(fast.ptr());
  PyObject** items = PySequence_Fast_ITEMS(fast.ptr());
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(static_cast<size_t>(count));
  for (Py_ssize_t i = 0; i < count; ++i) {
    const std::string where = std::string(what) + "[" + std::to_string(i) + "]";
    PyObject* item = items[i];
    if (PyUnicode_Check(item) || !PySequence_Check(item) || PySequence_Size(item) != 2) {
      PyErr_Clear();
      throw nb::type_error(
          (where + " must be a (str, str) pair, not " + Py_TYPE(item)->tp_name).c_str());
    }
    nb::object first = nb::steal(PySequence_GetItem(item, 0));
    nb::object second = nb::steal(PySequence_GetItem(item, 1));
    if (!first.is_valid() || !second.is_valid()) throw nb::python_error();
    std::string a = utf8_text(first.ptr(), where + "[0]");
    std::string b = utf8_text(second.ptr(), where + "[1]");
    out.emplace_back(std::move(a), std::move(b));
  }
  return out;
}

// A numpy array that owns `values` (moved to the heap, freed with the array).
template <typename T>
nb::ndarray<nb::numpy, T> owning_array(std::vector<T>&& values,
                                       std::initializer_list<size_t> shape) {
  auto* owner = new std::vector<T>(std::move(values));
  nb::capsule free_owner(owner, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T>(owner->data(), shape, free_owner);
}

embedrt::OverflowPolicy parse_overflow(const std::string& name) {
  if (name == "truncate") return embedrt::OverflowPolicy::kTruncate;
  if (name == "error") return embedrt::OverflowPolicy::kError;
  raise_invalid_argument("on_overflow '" + name + "' is not one of truncate, error");
}

embedrt::Embedder load(const std::string& model, std::optional<std::string> precision, int threads,
                       const std::string& optimize, size_t max_seq_length, size_t batch_size,
                       size_t max_batch_tokens, std::optional<size_t> cache_mb,
                       std::optional<bool> deterministic, const std::string& pooling,
                       std::optional<bool> normalize, const std::string& on_overflow,
                       std::optional<size_t> truncate_dim) {
  if (threads < 0) raise_invalid_argument("threads must be 0 (all cores) or more");
  embedrt::EmbedderOptions options;
  options.optimize = embedrt::parse_optimize_mode(optimize);
  if (precision) options.precision = embedrt::parse_precision(*precision);
  options.threads = threads;
  options.max_length = max_seq_length;
  options.batch_size = batch_size;
  options.max_batch_tokens = max_batch_tokens;
  if (cache_mb) options.cache_bytes = *cache_mb << 20;
  options.deterministic = deterministic;
  options.pooling = pooling;
  options.normalize = normalize;
  options.on_overflow = parse_overflow(on_overflow);
  options.dimensions = truncate_dim;
  nb::gil_scoped_release released;
  return embedrt::Embedder::load(model, options);
}

// Texts per engine call when a progress callback is given (as `embedrt encode --progress`): small
// enough for the bar to move, large enough to batch by length. Results are the same either way.
constexpr size_t kTextsPerProgressStep = 512;

using FloatMatrix = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;

// The int8/uint8 ranges: given as [2, D] (minimum, maximum), from calibration embeddings [N, D],
// else from the embeddings being quantized (as sentence-transformers' encode(precision=...)).
embedrt::QuantizationRanges quantization_ranges(std::optional<FloatMatrix> ranges,
                                                std::optional<FloatMatrix> calibration,
                                                const std::vector<float>& values, size_t rows,
                                                size_t dimension) {
  if (ranges && calibration) {
    raise_invalid_argument("give quantization_ranges or calibration_embeddings, not both");
  }
  if (ranges) {
    if (ranges->shape(0) != 2 || ranges->shape(1) != dimension) {
      raise_invalid_argument(
          "quantization_ranges must have shape (2, " + std::to_string(dimension) + "), not (" +
          std::to_string(ranges->shape(0)) + ", " + std::to_string(ranges->shape(1)) + ")");
    }
    const float* data = ranges->data();
    embedrt::QuantizationRanges out;
    out.minimum.assign(data, data + dimension);
    out.maximum.assign(data + dimension, data + 2 * dimension);
    return out;
  }
  if (calibration) {
    if (calibration->shape(1) != dimension) {
      raise_invalid_argument("calibration_embeddings have " +
                             std::to_string(calibration->shape(1)) +
                             " dimensions, but the embeddings have " + std::to_string(dimension));
    }
    const size_t n = calibration->shape(0);
    return embedrt::calibration_ranges({calibration->data(), n * dimension}, n, dimension);
  }
  return embedrt::calibration_ranges(values, rows, dimension);
}

// encode(): (array, profile JSON or None): float32 [N, D], or int8/uint8 [N, D] or [N, D/8]
// (packed bits) for the quantized output precisions. `progress`, when not None, is called with
// the number of texts done after each step.
nb::tuple encode(const embedrt::Embedder& embedder, nb::handle sentences,
                 std::optional<bool> normalize, const std::string& prompt_name,
                 const std::string& prompt, size_t batch_size, bool profile, nb::object progress,
                 std::optional<size_t> dimensions, const std::string& output_precision,
                 std::optional<FloatMatrix> ranges, std::optional<FloatMatrix> calibration) {
  const embedrt::OutputPrecision precision = embedrt::parse_output_precision(output_precision);
  const std::vector<std::string> texts = utf8_texts(sentences, "sentences");
  embedrt::EncodeOptions options;
  options.normalize = normalize;
  options.prompt_name = prompt_name;
  options.prompt = prompt;
  options.batch_size = batch_size;
  options.profile = profile;
  options.dimensions = dimensions;
  const size_t rows = texts.size();
  size_t dimension = 0;
  std::vector<float> values;
  std::optional<embedrt::EncodeProfile> total_profile;
  if (progress.is_none()) {
    nb::gil_scoped_release released;
    embedrt::Embeddings result = embedder.encode(texts, options);
    values = std::move(result.values);
    dimension = result.dimension;
    total_profile = std::move(result.profile);
  } else {
    const std::span<const std::string> all(texts);
    for (size_t begin = 0; begin < rows || begin == 0; begin += kTextsPerProgressStep) {
      const size_t count = std::min(kTextsPerProgressStep, rows - begin);
      options.first_index = begin;
      embedrt::Embeddings result;
      {
        nb::gil_scoped_release released;
        result = embedder.encode(all.subspan(begin, count), options);
      }
      dimension = result.dimension;
      values.insert(values.end(), result.values.begin(), result.values.end());
      if (result.profile) {
        if (total_profile) {
          *total_profile += *result.profile;
        } else {
          total_profile = std::move(result.profile);
        }
      }
      progress(begin + count);
      if (PyErr_CheckSignals() != 0) throw nb::python_error();  // Ctrl-C between steps
      if (rows == 0) break;
    }
  }
  nb::object profile_json = nb::none();
  if (total_profile) {
    total_profile->memory_peak_mb = double(embedrt::process_peak_rss_bytes()) / (1024.0 * 1024.0);
    profile_json = nb::str(embedrt::format_profile_json(*total_profile).c_str());
  }
  if (precision == embedrt::OutputPrecision::kFloat32) {
    return nb::make_tuple(owning_array(std::move(values), {rows, dimension}), profile_json);
  }
  const bool scalar =
      precision == embedrt::OutputPrecision::kInt8 || precision == embedrt::OutputPrecision::kUint8;
  embedrt::QuantizationRanges quantization;
  if (scalar && rows > 0) {
    quantization = quantization_ranges(ranges, calibration, values, rows, dimension);
  } else if (!scalar && (ranges || calibration)) {
    raise_invalid_argument(
        "quantization_ranges and calibration_embeddings apply to "
        "output_precision int8 and uint8 only");
  }
  embedrt::QuantizedEmbeddings q;
  {
    nb::gil_scoped_release released;
    q = embedrt::quantize(values, rows, dimension, precision, quantization);
  }
  const size_t row_bytes = embedrt::quantized_row_bytes(precision, dimension);
  // int8 and binary bytes are two's-complement values: the same bytes viewed as int8.
  nb::object array = owning_array(std::move(q.bytes), {rows, row_bytes}).cast();
  if (precision == embedrt::OutputPrecision::kInt8 ||
      precision == embedrt::OutputPrecision::kBinary) {
    array = array.attr("view")("int8");
  }
  return nb::make_tuple(array, profile_json);
}

// tokenize(): input_ids, token_type_ids and attention_mask as int64 [N, longest], padded with 0.
nb::dict tokenize(const embedrt::Embedder& embedder, nb::handle sentences) {
  const std::vector<std::string> texts = utf8_texts(sentences, "texts");
  std::vector<embedrt::Encoding> encodings;
  {
    nb::gil_scoped_release released;
    encodings = embedder.tokenizer().tokenize_batch(texts);
  }
  size_t longest = 0;
  for (const auto& e : encodings) longest = std::max(longest, e.ids.size());
  const size_t n = encodings.size();
  std::vector<int64_t> ids(n * longest, 0), type_ids(n * longest, 0), mask(n * longest, 0);
  for (size_t i = 0; i < n; ++i) {
    const embedrt::Encoding& e = encodings[i];
    for (size_t j = 0; j < e.ids.size(); ++j) {
      ids[i * longest + j] = e.ids[j];
      type_ids[i * longest + j] = j < e.type_ids.size() ? e.type_ids[j] : 0;
      mask[i * longest + j] = 1;
    }
  }
  nb::dict out;
  out["input_ids"] = owning_array(std::move(ids), {n, longest});
  out["token_type_ids"] = owning_array(std::move(type_ids), {n, longest});
  out["attention_mask"] = owning_array(std::move(mask), {n, longest});
  return out;
}

nb::dict model_info(const embedrt::ModelInfo& m) {
  nb::dict d;
  d["model_dir"] = m.dir.string();
  d["architecture"] = m.architecture;
  d["dimension"] = m.dimension;
  d["hidden_size"] = m.hidden_size;
  d["layers"] = m.layers;
  d["attention_heads"] = m.attention_heads;
  d["intermediate_size"] = m.intermediate_size;
  d["vocab_size"] = m.vocab_size;
  d["max_seq_length"] = m.max_length;
  d["activation"] = m.activation;
  d["pooling"] = m.pooling;
  d["normalize"] = m.normalize;
  d["parameters"] = m.parameters;
  d["weight_dtype"] = m.weight_dtype;
  d["compute_dtype"] = m.compute_dtype;
  d["optimize"] = std::string(embedrt::to_string(m.optimize));
  d["precision"] = std::string(embedrt::to_string(m.precision));
  d["threads"] = m.threads;
  d["batch_size"] = m.batch_size;
  d["max_batch_tokens"] = m.max_batch_tokens;
  d["cache_bytes"] = m.cache_bytes;
  d["deterministic"] = m.deterministic;
  d["adaptive_batching"] = m.adaptive_batching;
  d["weight_bytes"] = m.weight_bytes;
  d["matmul_one_row"] = m.matmul_one_row;
  d["matmul_batch"] = m.matmul_batch;
  nb::list warnings;
  for (const std::string& w : m.warnings) warnings.append(w);
  d["warnings"] = warnings;
  const embedrt::SystemInfo s = embedrt::system_info();
  d["version"] = s.version;
  d["cpu"] = s.cpu;
  d["isa"] = s.isa;
  d["onednn_isa"] = s.onednn_isa;
  d["attention_amx"] = s.attention_amx;
  return d;
}

nb::dict info(const embedrt::Embedder& embedder) { return model_info(embedder.info()); }

// The options Reranker and SparseEncoder take (those of Embedder's that apply to them).
embedrt::EmbedderOptions model_options(std::optional<std::string> precision, int threads,
                                       const std::string& optimize, size_t max_seq_length,
                                       size_t batch_size, size_t max_batch_tokens) {
  if (threads < 0) raise_invalid_argument("threads must be 0 (all cores) or more");
  embedrt::EmbedderOptions options;
  options.optimize = embedrt::parse_optimize_mode(optimize);
  if (precision) options.precision = embedrt::parse_precision(*precision);
  options.threads = threads;
  options.max_length = max_seq_length;
  options.batch_size = batch_size;
  options.max_batch_tokens = max_batch_tokens;
  return options;
}

embedrt::Reranker load_reranker(const std::string& model, std::optional<std::string> precision,
                                int threads, const std::string& optimize, size_t max_seq_length,
                                size_t batch_size, size_t max_batch_tokens) {
  const embedrt::EmbedderOptions options =
      model_options(precision, threads, optimize, max_seq_length, batch_size, max_batch_tokens);
  nb::gil_scoped_release released;
  return embedrt::Reranker::load(model, options);
}

// predict(): float32 [N, labels] in input order (the Python layer drops the label axis for one
// label, as CrossEncoder.predict does).
nb::ndarray<nb::numpy, float> rerank_predict(const embedrt::Reranker& reranker, nb::handle pairs,
                                             bool raw) {
  const auto texts = utf8_pairs(pairs, "pairs");
  const size_t labels = reranker.info().labels.size();
  std::vector<float> scores;
  {
    nb::gil_scoped_release released;
    scores = reranker.predict(texts, raw);
  }
  return owning_array(std::move(scores), {texts.size(), labels});
}

// rank(): [(index, score)], best first.
nb::list rerank_rank(const embedrt::Reranker& reranker, nb::handle query, nb::handle documents,
                     size_t top_k, bool raw) {
  const std::string query_text = utf8_text(query.ptr(), "query");
  const std::vector<std::string> texts = utf8_texts(documents, "documents");
  std::vector<embedrt::RankedDocument> ranked;
  {
    nb::gil_scoped_release released;
    ranked = reranker.rank(query_text, texts, top_k, raw);
  }
  nb::list out;
  for (const embedrt::RankedDocument& r : ranked) out.append(nb::make_tuple(r.index, r.score));
  return out;
}

nb::dict reranker_info(const embedrt::Reranker& reranker) {
  const embedrt::RerankerInfo& r = reranker.info();
  nb::dict d = model_info(r.model);
  nb::list labels;
  for (const std::string& label : r.labels) labels.append(label);
  d["labels"] = labels;
  d["activation"] = std::string(embedrt::to_string(r.activation));
  d["token_type_ids"] = r.token_type_ids;
  return d;
}

embedrt::SparseEncoder load_sparse(const std::string& model, std::optional<std::string> precision,
                                   int threads, const std::string& optimize, size_t max_seq_length,
                                   size_t batch_size, size_t max_batch_tokens) {
  const embedrt::EmbedderOptions options =
      model_options(precision, threads, optimize, max_seq_length, batch_size, max_batch_tokens);
  nb::gil_scoped_release released;
  return embedrt::SparseEncoder::load(model, options);
}

// encode(): the vectors as CSR arrays (indptr int64 [N + 1], indices int32, values float32); the
// Python layer makes a scipy matrix or per-text arrays of them.
nb::tuple sparse_encode(const embedrt::SparseEncoder& encoder, nb::handle sentences, size_t top_k,
                        const std::string& prompt) {
  const std::vector<std::string> texts = utf8_texts(sentences, "sentences");
  std::vector<embedrt::SparseVector> vectors;
  {
    nb::gil_scoped_release released;
    vectors = encoder.encode(texts, top_k, prompt);
  }
  std::vector<int64_t> indptr{0};
  std::vector<int32_t> indices;
  std::vector<float> values;
  for (const embedrt::SparseVector& v : vectors) {
    indices.insert(indices.end(), v.indices.begin(), v.indices.end());
    values.insert(values.end(), v.values.begin(), v.values.end());
    indptr.push_back(static_cast<int64_t>(indices.size()));
  }
  const size_t rows = indptr.size(), nonzeros = indices.size();
  return nb::make_tuple(owning_array(std::move(indptr), {rows}),
                        owning_array(std::move(indices), {nonzeros}),
                        owning_array(std::move(values), {nonzeros}));
}

std::string detect_kind(const std::string& model) {
  nb::gil_scoped_release released;
  return std::string(embedrt::to_string(embedrt::detect_model_kind(model)));
}

}  // namespace

NB_MODULE(_embedrt, m) {
  m.doc() = "embedrt's native core; use the classes in the embedrt package.";
  m.attr("__version__") = embedrt::version();

  nb::module_ errors = nb::module_::import_("embedrt.errors");
  error_classes = new ErrorClasses;  // lives as long as the process: translators may run late
  const char* names[] = {"InvalidArgumentError", "InvalidModelError", "UnsupportedError",
                         "EmbedrtIOError",       "InputTooLongError", "InternalError"};
  for (embedrt::ErrorCode code :
       {embedrt::ErrorCode::kInvalidArgument, embedrt::ErrorCode::kInvalidModel,
        embedrt::ErrorCode::kUnsupported, embedrt::ErrorCode::kIo,
        embedrt::ErrorCode::kInputTooLong, embedrt::ErrorCode::kInternal}) {
    error_classes->by_code[code_index(code)] = errors.attr(names[code_index(code)]);
  }
  error_classes->invalid_argument = error_classes->by_code[0];
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const embedrt::Error& e) {
      const int index = code_index(e.code());
      nb::handle cls =
          index >= 0 && index < 6 ? error_classes->by_code[index] : error_classes->by_code[5];
      PyErr_SetString(cls.ptr(), e.what());
    }
  });

  nb::class_<embedrt::Embedder>(m, "NativeEmbedder")
      .def_prop_ro("dimension", [](const embedrt::Embedder& e) { return e.info().dimension; })
      .def_prop_ro("max_seq_length", [](const embedrt::Embedder& e) { return e.info().max_length; })
      .def("info", &info)
      .def("encode", &encode, nb::arg("sentences").none(), nb::arg("normalize").none(),
           nb::arg("prompt_name"), nb::arg("prompt"), nb::arg("batch_size"), nb::arg("profile"),
           nb::arg("progress").none(), nb::arg("dimensions").none(), nb::arg("output_precision"),
           nb::arg("quantization_ranges").none(), nb::arg("calibration_embeddings").none())
      .def("tokenize", &tokenize, nb::arg("texts").none());
  m.def("load", &load, nb::arg("model"), nb::arg("precision").none(), nb::arg("threads"),
        nb::arg("optimize"), nb::arg("max_seq_length"), nb::arg("batch_size"),
        nb::arg("max_batch_tokens"), nb::arg("cache_mb").none(), nb::arg("deterministic").none(),
        nb::arg("pooling"), nb::arg("normalize").none(), nb::arg("on_overflow"),
        nb::arg("truncate_dim").none());

  nb::class_<embedrt::Reranker>(m, "NativeReranker")
      .def_prop_ro("num_labels", [](const embedrt::Reranker& r) { return r.info().labels.size(); })
      .def_prop_ro("max_seq_length",
                   [](const embedrt::Reranker& r) { return r.info().model.max_length; })
      .def("info", &reranker_info)
      .def("predict", &rerank_predict, nb::arg("pairs").none(), nb::arg("raw"))
      .def("rank", &rerank_rank, nb::arg("query").none(), nb::arg("documents").none(),
           nb::arg("top_k"), nb::arg("raw"));
  m.def("load_reranker", &load_reranker, nb::arg("model"), nb::arg("precision").none(),
        nb::arg("threads"), nb::arg("optimize"), nb::arg("max_seq_length"), nb::arg("batch_size"),
        nb::arg("max_batch_tokens"));

  nb::class_<embedrt::SparseEncoder>(m, "NativeSparseEncoder")
      .def_prop_ro("vocab_size", &embedrt::SparseEncoder::vocab_size)
      .def_prop_ro("max_seq_length", &embedrt::SparseEncoder::max_length)
      .def("info", [](const embedrt::SparseEncoder& e) { return model_info(e.info()); })
      .def("encode", &sparse_encode, nb::arg("sentences").none(), nb::arg("top_k"),
           nb::arg("prompt"));
  m.def("load_sparse_encoder", &load_sparse, nb::arg("model"), nb::arg("precision").none(),
        nb::arg("threads"), nb::arg("optimize"), nb::arg("max_seq_length"), nb::arg("batch_size"),
        nb::arg("max_batch_tokens"));

  m.def("detect_model_kind", &detect_kind, nb::arg("model"));
}
