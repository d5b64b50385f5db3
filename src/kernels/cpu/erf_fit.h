// erf(x) ~= x P(x^2) / Q(x^2) on x clamped to [-kErfFitClamp, kErfFitClamp] (Eigen's rational
// minimax fit, absolute error below 3.5e-7 in float). The coefficients are shared by the AVX2 and
// the 16-lane kernels so that both evaluate the same fit, highest power first (Horner order).
#pragma once

namespace embedrt::kernels::erf_fit {

inline constexpr float kClamp = 4.0f;
inline constexpr float kNumerator[] = {
    -2.72614225801306e-10f, 2.77068142495902e-08f,  -2.10102402082508e-06f, -5.69250639462346e-05f,
    -7.34990630326855e-04f, -2.95459980854025e-03f, -1.60960333262415e-02f};
inline constexpr float kDenominator[] = {-1.45660718464996e-05f, -2.13374055278905e-04f,
                                         -1.68282697438203e-03f, -7.37332916720468e-03f,
                                         -1.42647390514189e-02f};
inline constexpr int kNumeratorTerms = sizeof(kNumerator) / sizeof(kNumerator[0]);
inline constexpr int kDenominatorTerms = sizeof(kDenominator) / sizeof(kDenominator[0]);

}  // namespace embedrt::kernels::erf_fit
