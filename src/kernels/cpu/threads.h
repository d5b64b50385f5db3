// The calling thread's OpenMP team size, set to what a parallel region started from it will get.
#pragma once

namespace embedrt::kernels {

// Sets the calling thread's OpenMP thread count to `requested` (at least 1), lowered to what
// OpenMP can actually give a parallel region started here: OMP_THREAD_LIMIT, and 1 inside a
// parallel region of the caller's where nesting is off; dynamic adjustment is turned off for the
// calling thread. oneDNN divides a primitive's work by the thread count it was created with and
// computes garbage when it runs on a smaller team, so every entry into the encoder goes through
// this. Returns the count set.
int use_threads(int requested);

}  // namespace embedrt::kernels
