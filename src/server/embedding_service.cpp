#include "server/embedding_service.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <memory>
#include <vector>

#include "api/text_tokenizer_impl.h"
#include "embedrt/error.h"
#include "embedrt/system.h"
#include "server/json_output.h"
#include "server/request_parsing.h"

namespace embedrt::server {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string input_param(ApiStyle style) { return style == ApiStyle::kOpenAI ? "input" : "inputs"; }

// A failure of prepare() is the client's: a bad prompt name, a token id outside the vocabulary.
[[noreturn]] void rethrow_prepare_error(const Error& e, ApiStyle style) {
  if (e.code() == ErrorCode::kInvalidArgument || e.code() == ErrorCode::kInputTooLong) {
    const std::string message = e.what();
    const bool about_prompt = message.find("prompt") != std::string::npos;
    throw ApiError(422, message, about_prompt ? "prompt_name" : input_param(style));
  }
  throw ApiError(500, e.what());
}

// Tokenizes on the calling thread, one input at a time: a request thread must not start a
// thread team of its own next to the model's.
std::vector<PreparedText> prepare_inputs(const Embedder& embedder, const EmbeddingInputs& inputs,
                                         EncodeOptions options, ApiStyle style) {
  std::vector<PreparedText> prepared;
  prepared.reserve(inputs.size());
  try {
    for (size_t i = 0; i < inputs.size(); ++i) {
      options.first_index = i;
      auto one = inputs.is_token_ids
                     ? embedder.prepare_token_ids(std::span(&inputs.token_ids[i], 1), options)
                     : embedder.prepare(std::span(&inputs.texts[i], 1), options);
      prepared.push_back(std::move(one.front()));
    }
  } catch (const Error& e) {
    rethrow_prepare_error(e, style);
  }
  return prepared;
}

// A quantized row as a JSON array of integers (int8 and binary signed, uint8 and ubinary not).
void append_quantized_array(std::string& out, std::span<const float> values,
                            OutputPrecision precision, const QuantizationRanges& ranges,
                            std::vector<uint8_t>& scratch) {
  scratch.resize(quantized_row_bytes(precision, values.size()));
  quantize_row(values, precision, ranges, scratch.data());
  const bool is_signed =
      precision == OutputPrecision::kInt8 || precision == OutputPrecision::kBinary;
  out += '[';
  for (size_t i = 0; i < scratch.size(); ++i) {
    if (i > 0) out += ',';
    out += is_signed ? std::to_string(static_cast<int8_t>(scratch[i])) : std::to_string(scratch[i]);
  }
  out += ']';
}

}  // namespace

std::shared_ptr<Job> run_job(BatchScheduler& scheduler, std::vector<PreparedText> prepared,
                             int client_fd, Reply& reply, std::string_view what) {
  auto job = std::make_shared<Job>(std::move(prepared));
  if (!scheduler.submit(job)) throw ApiError(503, "the server is shutting down");
  const Job::State state = job->wait(client_fd);
  reply.queue_ms = job->queue_ms();
  reply.inference_ms = job->inference_ms();
  if (state == Job::State::kCancelled) {
    reply.client_gone = true;
    reply.status = 499;
    return nullptr;
  }
  if (state == Job::State::kFailed) {
    throw ApiError(500, std::string(what) + " failed: " + job->error());
  }
  return job;
}

EmbeddingService::EmbeddingService(const Embedder& embedder, BatchScheduler& scheduler,
                                   Metrics& metrics, const ServerOptions& options,
                                   std::string model_name)
    : embedder_(embedder),
      scheduler_(scheduler),
      metrics_(metrics),
      options_(options),
      model_name_(std::move(model_name)) {}

Reply EmbeddingService::embed(ApiStyle style, std::string_view body, int client_fd) const {
  const auto parse_start = Clock::now();
  const nlohmann::json document = parse_json_body(body);
  EmbeddingRequest request =
      style == ApiStyle::kOpenAI ? parse_openai_request(document) : parse_tei_request(document);
  const double parse_ms = ms_since(parse_start);

  const std::string param = input_param(style);
  const size_t count = request.inputs.size();
  if (count > options_.max_client_batch_size) {
    throw ApiError(413,
                   param + ": " + std::to_string(count) + " inputs, over the limit of " +
                       std::to_string(options_.max_client_batch_size) + " per request",
                   param);
  }
  const size_t dimension = embedder_.info().model_dimension;
  const size_t dimensions = request.dimensions.value_or(embedder_.info().dimension);
  if (dimensions > dimension) {
    throw ApiError(422,
                   "dimensions: " + std::to_string(dimensions) + " is more than the model's " +
                       std::to_string(dimension),
                   "dimensions");
  }
  const bool quantized = request.precision != OutputPrecision::kFloat32;
  if ((request.precision == OutputPrecision::kInt8 ||
       request.precision == OutputPrecision::kUint8) &&
      options_.quantization_ranges.dimension() != dimensions) {
    throw ApiError(
        422,
        "encoding_format: " + std::string(to_string(request.precision)) +
            (options_.quantization_ranges.empty()
                 ? std::string(" needs calibration ranges: start the server with "
                               "--calibration FILE.npy or --quantization-ranges FILE.npy")
                 : " calibration ranges are for " +
                       std::to_string(options_.quantization_ranges.dimension()) +
                       " dimensions, the embeddings have " + std::to_string(dimensions)),
        "encoding_format");
  }

  EncodeOptions encode;
  encode.normalize = request.normalize;
  encode.dimensions = dimensions;
  encode.prompt_name = request.prompt_name;
  encode.truncation_side = request.truncation_side;
  // Always prepared with truncation, then checked here, so that the error names the input.
  encode.on_overflow = OverflowPolicy::kTruncate;
  const bool truncate = request.truncate.value_or(options_.auto_truncate);

  if (request.inputs.is_token_ids) {
    const size_t vocabulary = embedder_.tokenizer().vocab_size();
    for (size_t i = 0; i < request.inputs.token_ids.size(); ++i) {
      const auto& ids = request.inputs.token_ids[i];
      for (size_t j = 0; j < ids.size(); ++j) {
        if (static_cast<size_t>(ids[j]) >= vocabulary) {
          const std::string at = param + "[" + std::to_string(i) + "]";
          throw ApiError(422,
                         at + ": token id " + std::to_string(ids[j]) + " at position " +
                             std::to_string(j) + " is outside the vocabulary [0, " +
                             std::to_string(vocabulary) + ")",
                         at);
        }
      }
    }
  }

  Reply reply;
  const auto tokenize_start = Clock::now();
  std::vector<PreparedText> prepared = prepare_inputs(embedder_, request.inputs, encode, style);
  reply.tokenization_ms = ms_since(tokenize_start);
  size_t tokens = 0;
  for (size_t i = 0; i < prepared.size(); ++i) {
    const uint32_t cut = prepared[i].encoding.truncated_tokens;
    if (cut > 0 && !truncate) {
      const std::string at = param + "[" + std::to_string(i) + "]";
      throw ApiError(
          422,
          at + ": input is " + std::to_string(prepared[i].tokens + cut) +
              " tokens long, over the maximum of " + std::to_string(embedder_.info().max_length) +
              (style == ApiStyle::kOpenAI ? " (the server truncates with --auto-truncate)"
                                          : " (set \"truncate\": true to cut it)"),
          at);
    }
    tokens += prepared[i].tokens;
  }

  const auto job = run_job(scheduler_, std::move(prepared), client_fd, reply, "embedding");
  if (!job) return reply;

  const auto encode_start = Clock::now();
  std::vector<PreparedText>& texts = job->texts();
  std::string& out = reply.body;
  std::vector<uint8_t> scratch;
  if (style == ApiStyle::kOpenAI) {
    out.reserve(128 + texts.size() * (request.base64 ? dimensions * 4 / 3 + 64 : dimensions * 12));
    out += "{\"object\":\"list\",\"data\":[";
    for (size_t i = 0; i < texts.size(); ++i) {
      if (i > 0) out += ',';
      out += "{\"object\":\"embedding\",\"index\":";
      out += std::to_string(i);
      out += ",\"embedding\":";
      const std::span<const float> values(texts[i].embedding);
      if (quantized) {
        append_quantized_array(out, values, request.precision, options_.quantization_ranges,
                               scratch);
      } else if (request.base64) {
        out += '"';
        append_base64_floats(out, values);
        out += '"';
      } else {
        append_float_array(out, values);
      }
      out += '}';
    }
    out += "],\"model\":";
    append_json_string(out, model_name_);
    out += ",\"usage\":{\"prompt_tokens\":" + std::to_string(tokens) +
           ",\"total_tokens\":" + std::to_string(tokens) + "}}";
  } else {
    out.reserve(2 + texts.size() * dimensions * 12);
    out += '[';
    for (size_t i = 0; i < texts.size(); ++i) {
      if (i > 0) out += ',';
      append_float_array(out, texts[i].embedding);
    }
    out += ']';
  }
  metrics_.record_codec(parse_ms / 1000.0, ms_since(encode_start) / 1000.0);
  metrics_.record_stages(reply.tokenization_ms / 1000.0, reply.queue_ms / 1000.0,
                         reply.inference_ms / 1000.0);
  metrics_.add_tokens(tokens, texts.size());
  return reply;
}

Reply EmbeddingService::tokenize(std::string_view body) const {
  const TokenizeRequest request = parse_tokenize_request(parse_json_body(body));
  if (request.texts.size() > options_.max_client_batch_size) {
    throw ApiError(413,
                   "inputs: " + std::to_string(request.texts.size()) +
                       " inputs, over the limit of " +
                       std::to_string(options_.max_client_batch_size) + " per request",
                   "inputs");
  }
  // The prompt the embedding endpoints would prepend: the named one, else the model's default.
  const auto& folder = embedder_.tokenizer().impl().folder;
  const std::string& name =
      request.prompt_name.empty() ? folder.default_prompt_name : request.prompt_name;
  std::string prompt;
  if (!name.empty()) {
    const auto it = folder.prompts.find(name);
    if (it == folder.prompts.end()) {
      throw ApiError(422, "prompt_name: '" + name + "' is not a prompt of this model",
                     "prompt_name");
    }
    prompt = it->second;
  }
  const TextTokenizer& tokenizer = embedder_.tokenizer();
  const auto& vocabulary = tokenizer.impl().tokenizer;
  Reply reply;
  const auto start = Clock::now();
  std::string& out = reply.body;
  out += '[';
  for (size_t i = 0; i < request.texts.size(); ++i) {
    const std::string seen = tokenizer.preprocess(request.texts[i], prompt);
    const Encoding encoding = tokenizer.tokenize(request.texts[i], prompt);
    if (i > 0) out += ',';
    out += '[';
    bool first = true;
    for (size_t t = 0; t < encoding.ids.size(); ++t) {
      const bool special = encoding.special_tokens_mask[t] != 0;
      if (special && !request.add_special_tokens) continue;
      if (!first) out += ',';
      first = false;
      out += "{\"id\":" + std::to_string(encoding.ids[t]) + ",\"text\":";
      const ByteSpan span = encoding.offsets[t];
      if (special) {
        append_json_string(out, vocabulary.id_to_token(encoding.ids[t]).value_or(""));
        out += ",\"special\":true,\"start\":null,\"stop\":null}";
      } else {
        const size_t begin = std::min<size_t>(span.begin, seen.size());
        const size_t end = std::min<size_t>(std::max(span.begin, span.end), seen.size());
        append_json_string(out, std::string_view(seen).substr(begin, end - begin));
        out += ",\"special\":false,\"start\":" + std::to_string(span.begin) +
               ",\"stop\":" + std::to_string(span.end) + "}";
      }
    }
    out += ']';
  }
  out += ']';
  reply.tokenization_ms = ms_since(start);
  return reply;
}

std::string EmbeddingService::info() const {
  const ModelInfo& info = embedder_.info();
  const CacheStats cache = embedder_.cache_stats();
  const SystemInfo system = system_info();
  nlohmann::json out = {
      {"model_id", model_name_},
      {"model_dir", info.dir.string()},
      {"kind", "embedding"},
      // TEI's model_type object.
      {"model_type", {{"embedding", {{"pooling", info.pooling}}}}},
      {"architecture", info.architecture},
      {"model_dtype", info.weight_dtype},
      {"precision", std::string(to_string(info.precision))},
      {"dimensions", info.dimension},
      {"model_dimensions", info.model_dimension},
      {"quantization_ranges_dimensions", options_.quantization_ranges.dimension()},
      {"max_input_length", info.max_length},
      {"pooling", info.pooling},
      {"normalize", info.normalize},
      {"optimize", std::string(to_string(info.optimize))},
      {"threads", info.threads},
      {"deterministic", info.deterministic},
      {"isa", system.isa},
      {"cpu_isa", system.cpu_isa},
      {"onednn_isa", system.onednn_isa},
      {"matmul", {{"one_row", info.matmul_one_row}, {"batch", info.matmul_batch}}},
      {"max_batch_tokens", scheduler_.token_budget()},
      {"adaptive_batch_tokens", adaptive_batching(options_, info)},
      {"express_max_tokens", options_.express_max_tokens},
      {"max_batch_requests", scheduler_.max_batch_size()},
      {"max_client_batch_size", options_.max_client_batch_size},
      {"max_concurrent_requests", options_.max_concurrent_requests},
      {"payload_limit", options_.payload_limit},
      {"auto_truncate", options_.auto_truncate},
      {"cache_bytes", cache.capacity_bytes},
      {"auth", !options_.api_key.empty()},
      {"version", version()},
  };
  return out.dump();
}

}  // namespace embedrt::server
