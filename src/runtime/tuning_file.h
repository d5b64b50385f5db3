// The tuning file `embedrt tune` writes and encode/serve read: JSON, one object.
//
//   {
//     "format": 1,
//     "model": "all-MiniLM-L6-v2", "model_dir": "/…/all-MiniLM-L6-v2",
//     "cpu": "AMD EPYC 7B13", "cpu_count": 2, "date": "2026-11-28T10:00:00Z",
//     "precision": "fp32", "deterministic": true, "target_latency_ms": null,
//     "settings": {"threads": 2, "batch_size": 64, "max_batch_tokens": 2048},
//     "measured": {"texts_per_second": …, "tokens_per_second": …, "p50_batch_ms": …,
//                  "p90_batch_ms": …},
//     "workload": {"source": "synthetic …", "texts": 512, "tokens": …, "median_tokens": …,
//                  "max_tokens": …},
//     "seconds_per_point": 1.0,
//     "grid": [{"threads": …, "batch_size": …, "max_batch_tokens": …, "batches_run": …,
//               "texts_per_second": …, "tokens_per_second": …, "p50_batch_ms": …,
//               "p90_batch_ms": …, "estimated_mb": …, "same_batches_as": null}, …],
//     "best": 4
//   }
//
// "settings" is what a reader applies; "measured" repeats the best grid point's figures.
#pragma once

#include <string>

#include "embedrt/tuning.h"

namespace embedrt::runtime {

std::string tuning_to_json(const TuneResult& result);

// Parses a tuning file's text; `file` names it in errors ("<file>: settings.threads: expected a
// positive integer"), which are kInvalidArgument.
TuneResult tuning_from_json(const std::string& text, const std::string& file);

// The CPU's model name from /proc/cpuinfo ("unknown" where it does not say).
std::string cpu_model_name();

// The current time in UTC as ISO 8601 ("2026-11-28T10:00:00Z").
std::string utc_timestamp();

}  // namespace embedrt::runtime
