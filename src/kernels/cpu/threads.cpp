#include "kernels/cpu/threads.h"

#include <omp.h>

#include <algorithm>

namespace embedrt::kernels {

int use_threads(int requested) {
  int threads = std::max(requested, 1);
  threads = std::min(threads, std::max(omp_get_thread_limit(), 1));
  if (omp_get_active_level() >= omp_get_max_active_levels()) threads = 1;
  omp_set_dynamic(0);
  omp_set_num_threads(threads);
  return threads;
}

}  // namespace embedrt::kernels
