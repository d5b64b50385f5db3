#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <regex>

#include "embedrt/error.h"
#include "runtime/adaptive_tuner.h"

namespace embedrt::runtime {
namespace {

// A deterministic batch cost: fixed overhead + per-token work + a quadratic term (attention and
// cache misses growing with the batch), times seeded multiplicative noise. Throughput
// tokens / latency peaks at sqrt(overhead / quadratic) tokens.
struct CostModel {
  double overhead_ms = 50;
  double per_token_ms = 0.05;
  double quadratic_ms = 2e-5;

  double latency(size_t tokens) const {
    const double t = static_cast<double>(tokens);
    return overhead_ms + per_token_ms * t + quadratic_ms * t * t;
  }
  double throughput(size_t tokens) const { return static_cast<double>(tokens) / latency(tokens); }
  double optimum() const { return std::sqrt(overhead_ms / quadratic_ms); }
};

class Simulation {
 public:
  explicit Simulation(AdaptiveTuner::Config config, double noise = 0.02, uint64_t seed = 7)
      : tuner(config), noise_(0.0, noise), rng_(seed) {}

  // Runs `batches` full batches (as many tokens as the budget allows) and returns how many
  // decisions changed the budget.
  int run(const CostModel& cost, int batches, double fill = 1.0) {
    int changes = 0;
    for (int i = 0; i < batches; ++i) {
      const size_t budget = tuner.token_budget();
      const auto tokens = static_cast<size_t>(std::max(1.0, std::floor(fill * double(budget))));
      const double ms = cost.latency(tokens) * std::exp(noise_(rng_));
      budgets.push_back(budget);
      if (const auto decision = tuner.observe(tokens, std::max<size_t>(1, tokens / 32), ms)) {
        log.push_back(*decision);
        if (tuner.token_budget() != budget) ++changes;
      }
    }
    return changes;
  }

  AdaptiveTuner tuner;
  std::vector<size_t> budgets;
  std::vector<std::string> log;

 private:
  std::normal_distribution<double> noise_;
  std::mt19937_64 rng_;
};

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += "  " + line + "\n";
  return out;
}

// Configurations by field assignment: designated initializers would leave GCC warning about every
// member not named.
AdaptiveTuner::Config bounds(size_t initial, size_t min_budget = 256, size_t max_budget = 65536) {
  AdaptiveTuner::Config config;
  config.initial_budget = initial;
  config.min_budget = min_budget;
  config.max_budget = max_budget;
  return config;
}

AdaptiveTuner::Config target(size_t initial, double latency_ms, double dead_band = 0.05) {
  AdaptiveTuner::Config config = bounds(initial, 64);
  config.target_latency_ms = latency_ms;
  config.dead_band = dead_band;
  return config;
}

template <typename Change>
AdaptiveTuner::Config with(Change change) {
  AdaptiveTuner::Config config;
  change(config);
  return config;
}

TEST(AdaptiveTuner, ClimbsToTheThroughputOptimumFromBelow) {
  const CostModel cost;
  Simulation sim(bounds(256, 64));
  sim.run(cost, 600);
  ASSERT_TRUE(sim.tuner.converged()) << joined(sim.log);
  const size_t budget = sim.tuner.token_budget();
  EXPECT_GE(cost.throughput(budget), 0.95 * cost.throughput(size_t(cost.optimum())))
      << "settled at " << budget << ", optimum " << cost.optimum() << "\n"
      << joined(sim.log);
  EXPECT_GT(budget, cost.optimum() / 2);
  EXPECT_LT(budget, cost.optimum() * 2);
}

TEST(AdaptiveTuner, DescendsToTheThroughputOptimumFromAbove) {
  const CostModel cost;
  Simulation sim(bounds(32768, 64));
  sim.run(cost, 600);
  ASSERT_TRUE(sim.tuner.converged()) << joined(sim.log);
  const size_t budget = sim.tuner.token_budget();
  EXPECT_GE(cost.throughput(budget), 0.95 * cost.throughput(size_t(cost.optimum())))
      << "settled at " << budget << "\n"
      << joined(sim.log);
}

TEST(AdaptiveTuner, HoldsStillOnAFlatPlateau) {
  // Cost proportional to tokens: every budget gives the same throughput, up to the noise.
  const CostModel flat{.overhead_ms = 0, .per_token_ms = 0.1, .quadratic_ms = 0};
  for (const uint64_t seed : {1, 2, 3, 4, 5}) {
    Simulation sim(bounds(4096), 0.02, seed);
    const int early = sim.run(flat, 200);
    EXPECT_TRUE(sim.tuner.converged()) << "seed " << seed << "\n" << joined(sim.log);
    // Probing costs a few moves (up, down, smaller steps), then it stays put.
    EXPECT_LE(early, 8) << "seed " << seed << "\n" << joined(sim.log);
    const size_t settled = sim.tuner.token_budget();
    EXPECT_EQ(sim.run(flat, 2000), 0) << "seed " << seed << "\n" << joined(sim.log);
    EXPECT_EQ(sim.tuner.token_budget(), settled);
    // And it does not wander off the plateau's start in the first place.
    EXPECT_GE(settled, 4096 / 2);
    EXPECT_LE(settled, 4096 * 2);
  }
}

TEST(AdaptiveTuner, SearchesAgainWhenTheCostChanges) {
  const CostModel before;
  Simulation sim(bounds(1024, 64));
  sim.run(before, 600);
  ASSERT_TRUE(sim.tuner.converged());
  // Attention-heavy texts arrive: the quadratic term grows 16x, the optimum drops 4x.
  ASSERT_EQ(before.quadratic_ms * 16, 3.2e-4);
  const CostModel after{.overhead_ms = 50, .per_token_ms = 0.05, .quadratic_ms = 3.2e-4};
  sim.run(after, 800);
  ASSERT_TRUE(sim.tuner.converged()) << joined(sim.log);
  const size_t budget = sim.tuner.token_budget();
  EXPECT_GE(after.throughput(budget), 0.95 * after.throughput(size_t(after.optimum())))
      << "settled at " << budget << ", new optimum " << after.optimum() << "\n"
      << joined(sim.log);
  bool restarted = false;
  for (const auto& line : sim.log) restarted |= line.find("searching again") != std::string::npos;
  EXPECT_TRUE(restarted) << joined(sim.log);
}

TEST(AdaptiveTuner, StaysWithinItsBounds) {
  // Throughput keeps rising with the budget: the search must stop at max_budget.
  const CostModel rising{.overhead_ms = 50, .per_token_ms = 0.05, .quadratic_ms = 0};
  Simulation up(bounds(1000, 512, 3000));
  up.run(rising, 600);
  for (const size_t b : up.budgets) {
    ASSERT_GE(b, 512u);
    ASSERT_LE(b, 3000u);
  }
  EXPECT_EQ(up.tuner.token_budget(), 3000u) << joined(up.log);

  // Throughput falls with the budget: it must stop at min_budget.
  const CostModel falling{.overhead_ms = 0, .per_token_ms = 0.05, .quadratic_ms = 1e-4};
  Simulation down(bounds(4096, 512, 8192));
  down.run(falling, 600);
  for (const size_t b : down.budgets) ASSERT_GE(b, 512u);
  EXPECT_EQ(down.tuner.token_budget(), 512u) << joined(down.log);
}

TEST(AdaptiveTuner, MeetsALatencyTargetAndHoldsThere) {
  const CostModel cost{.overhead_ms = 5, .per_token_ms = 0.05, .quadratic_ms = 1e-6};
  Simulation sim(target(256, 100.0, 0.2));
  sim.run(cost, 400);
  const size_t settled = sim.tuner.token_budget();
  EXPECT_LE(cost.latency(settled), 100.0) << joined(sim.log);
  EXPECT_GE(cost.latency(settled), 75.0) << joined(sim.log);
  EXPECT_EQ(sim.run(cost, 2000), 0) << joined(sim.log);
  EXPECT_FALSE(sim.tuner.converged());  // converged() speaks of the throughput search only
}

TEST(AdaptiveTuner, ShrinksWhenBatchesGetSlowerThanTheTarget) {
  const CostModel cost{.overhead_ms = 5, .per_token_ms = 0.05, .quadratic_ms = 0};
  Simulation sim(target(1024, 100.0, 0.2));
  sim.run(cost, 300);
  const size_t before = sim.tuner.token_budget();
  const CostModel slower{.overhead_ms = 5, .per_token_ms = 0.15, .quadratic_ms = 0};
  sim.run(slower, 300);
  const size_t after = sim.tuner.token_budget();
  EXPECT_LT(after, before / 2) << joined(sim.log);
  EXPECT_LE(slower.latency(after), 100.0) << joined(sim.log);
  EXPECT_NE(sim.log.back().find("over target 100.0 ms"), std::string::npos) << joined(sim.log);
}

TEST(AdaptiveTuner, DoesNotGrowPastBatchesThatDoNotFillTheBudget) {
  const CostModel cost{.overhead_ms = 5, .per_token_ms = 0.05, .quadratic_ms = 0};
  Simulation sim(target(1024, 100.0));
  // The queue only ever holds a quarter of the budget: latency is low, but a larger budget
  // would not make batches any larger.
  EXPECT_EQ(sim.run(cost, 300, 0.25), 0) << joined(sim.log);
  EXPECT_EQ(sim.tuner.token_budget(), 1024u);
}

TEST(AdaptiveTuner, DecisionsAreShortLines) {
  const CostModel cost;
  Simulation sim(bounds(256));
  sim.run(cost, 300);
  ASSERT_FALSE(sim.log.empty());
  const std::regex change(R"(token budget \d+ -> \d+: .+)");
  const std::regex held(R"(token budget held at \d+: .+)");
  for (const auto& line : sim.log) {
    EXPECT_TRUE(std::regex_match(line, change) || std::regex_match(line, held)) << line;
    EXPECT_LT(line.size(), 120u) << line;
    EXPECT_EQ(line.find('\n'), std::string::npos);
  }
  EXPECT_EQ(sim.tuner.decisions(), sim.log);
}

TEST(AdaptiveTuner, IgnoresEmptyAndInvalidObservations) {
  AdaptiveTuner tuner(with([](auto& c) {
    c.initial_budget = 2048;
    c.window = 1;
    c.settle = 0;
  }));
  EXPECT_FALSE(tuner.observe(0, 0, 10.0));
  EXPECT_FALSE(tuner.observe(100, 1, 0.0));
  EXPECT_FALSE(tuner.observe(100, 1, -1.0));
  EXPECT_FALSE(tuner.observe(100, 1, NAN));
  EXPECT_EQ(tuner.token_budget(), 2048u);
  // The first valid window measures the start and sends the first probe.
  EXPECT_TRUE(tuner.observe(2048, 64, 20.0));
}

TEST(AdaptiveTuner, RejectsInconsistentConfigurations) {
  const auto expect_invalid = [](AdaptiveTuner::Config config, const char* needle) {
    try {
      AdaptiveTuner tuner(config);
      ADD_FAILURE() << "accepted a config with a bad " << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_invalid(bounds(2048, 4096, 1024), "max_budget");
  expect_invalid(with([](auto& c) { c.window = 0; }), "window");
  expect_invalid(target(2048, -5.0), "target_latency_ms");
  expect_invalid(with([](auto& c) { c.dead_band = 1.5; }), "dead_band");
  expect_invalid(with([](auto& c) {
                   c.initial_step = 0.1;
                   c.min_step = 0.2;
                 }),
                 "min_step");
  // An initial budget outside the bounds is brought inside them.
  EXPECT_EQ(AdaptiveTuner(bounds(10, 256)).token_budget(), 256u);
  EXPECT_EQ(AdaptiveTuner(bounds(1 << 20, 256, 8192)).token_budget(), 8192u);
}

}  // namespace
}  // namespace embedrt::runtime
