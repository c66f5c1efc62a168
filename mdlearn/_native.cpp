// mdlearn's native CPU kernels (float32): built on first use by mdlearn/native.py with
// torch.utils.cpp_extension, run on torch's own OpenMP thread pool (at::parallel_for), so they
// never compete with torch's threads for the cores.
//
//   normal_rows_      row r of a (R, K) buffer from generator r, rows drawn in parallel (the
//                     same numbers as calling row.normal_(0, std, generator=g) in turn)
//   hidden_pass_      t = tanh(A); D = S - t; B = D (1 - t^2); per-row sums of D^2 in float64
//                     (one pass instead of ~9 elementwise torch operations)
//   leapfrog_spins_,  v <- a v + xi + c F;  x <- x + dt v;  then one mirror at the walls,
//   leapfrog_rows_    with F = G - w D for the spins (their forces finished on the fly); they
//                     return whether a particle is still outside (an overshoot wider than the
//                     box: the caller then applies the general fold)
//
// Compiled with -ffp-contract=off: every multiply-add below is written as it is meant to round
// (std::fma where ATen's kernels use a fused multiply-add).

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <atomic>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

// ------------------------------------------------------------------------ tanh (float32)
// Branch-free, so that the compiler vectorises the loops that call it.
//   |x| <  0.55: x + x^3 P(x^2), a minimax polynomial (relative error < 1e-8)
//   |x| >= 0.55: 1 - 2 / (exp(2|x|) + 1), exp by Cody-Waite reduction and a degree-6
//                polynomial, 2^n put together from its bits
// with the sign of x; |x| is clamped at 10 (tanh(10) rounds to 1 in float32). Within 2 ulp of
// the correctly rounded tanh (tests/test_native.py checks it against float64); NaN -> NaN.

constexpr float TANH_C1 = -3.333333135e-01f;
constexpr float TANH_C2 = 1.333329380e-01f;
constexpr float TANH_C3 = -5.395961180e-02f;
constexpr float TANH_C4 = 2.178262547e-02f;
constexpr float TANH_C5 = -8.413468488e-03f;
constexpr float TANH_C6 = 2.395368880e-03f;

inline float pow2i(int32_t n) {
  int32_t bits = (n + 127) << 23;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline float exp_pos(float y) {  // exp(y) for 0 <= y <= 20
  const float log2e = 1.44269504088896341f;
  const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  float fn = (y * log2e + shifter) - shifter;
  float r = std::fma(-fn, ln2_hi, y);
  r = std::fma(-fn, ln2_lo, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  p = std::fma(p, r * r, r) + 1.0f;
  return p * pow2i(static_cast<int32_t>(fn));
}

inline float tanh_f(float x) {
  float ax = std::fabs(x);
  ax = ax < 10.0f ? ax : 10.0f;
  // small |x|
  float u = ax * ax;
  float q = TANH_C6;
  q = std::fma(q, u, TANH_C5);
  q = std::fma(q, u, TANH_C4);
  q = std::fma(q, u, TANH_C3);
  q = std::fma(q, u, TANH_C2);
  q = std::fma(q, u, TANH_C1);
  float ts = std::fma(ax * u, q, ax);
  // large |x|
  float e = exp_pos(2.0f * ax);
  float tl = 1.0f - 2.0f / (e + 1.0f);
  float t = ax < 0.55f ? ts : tl;
  t = std::copysign(t, x);
  return x != x ? x : t;  // NaN stays NaN
}

// ------------------------------------------------------------------------ noise
void normal_rows_(at::Tensor buf, std::vector<at::Generator> gens, double std) {
  TORCH_CHECK(buf.dim() >= 1 && buf.size(0) == static_cast<int64_t>(gens.size()),
              "normal_rows_: one generator per row");
  const int64_t R = buf.size(0);
  py::gil_scoped_release nogil;
  at::parallel_for(0, R, 1, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) buf.select(0, r).normal_(0.0, std, gens[r]);
  });
}

// ------------------------------------------------------------------------ hidden layers
// A, S, D, B: contiguous float32 of the same shape, seen as rows of length M (the last axis);
// rowsq: float64, one entry per row.
void hidden_pass_(at::Tensor A, at::Tensor S, at::Tensor D, at::Tensor B, at::Tensor rowsq) {
  for (auto* t : {&A, &S, &D, &B})
    TORCH_CHECK(t->scalar_type() == at::kFloat && t->is_contiguous() && t->sizes() == A.sizes(),
                "hidden_pass_: float32 contiguous tensors of one shape");
  TORCH_CHECK(rowsq.scalar_type() == at::kDouble && rowsq.is_contiguous(), "hidden_pass_: rowsq");
  const int64_t M = A.size(-1);
  const int64_t rows = M ? A.numel() / M : 0;
  TORCH_CHECK(rowsq.numel() == rows, "hidden_pass_: rowsq has one entry per row");
  const float* a = A.data_ptr<float>();
  const float* s = S.data_ptr<float>();
  float* d = D.data_ptr<float>();
  float* bb = B.data_ptr<float>();
  double* rs = rowsq.data_ptr<double>();
  py::gil_scoped_release nogil;
  at::parallel_for(0, rows, 1, [&](int64_t r0, int64_t r1) {
    constexpr int W = 16;
    for (int64_t row = r0; row < r1; ++row) {
      const float* __restrict__ ar = a + row * M;
      const float* __restrict__ sr = s + row * M;
      float* __restrict__ dr = d + row * M;
      float* __restrict__ br = bb + row * M;
      double acc[W] = {0};
      int64_t m = 0;
      for (; m + W <= M; m += W) {
        for (int j = 0; j < W; ++j) {
          float t = tanh_f(ar[m + j]);
          float dv = sr[m + j] - t;
          dr[m + j] = dv;
          br[m + j] = dv * (1.0f - t * t);
          double d64 = dv;
          acc[j] += d64 * d64;
        }
      }
      for (; m < M; ++m) {
        float t = tanh_f(ar[m]);
        float dv = sr[m] - t;
        dr[m] = dv;
        br[m] = dv * (1.0f - t * t);
        double d64 = dv;
        acc[0] += d64 * d64;
      }
      double sum = 0.0;
      for (int j = 0; j < W; ++j) sum += acc[j];
      rs[row] = sum;
    }
  });
}

void tanh_(at::Tensor X) {  // in place (tests and benchmarks)
  TORCH_CHECK(X.scalar_type() == at::kFloat && X.is_contiguous(), "tanh_: float32 contiguous");
  float* p = X.data_ptr<float>();
  const int64_t n = X.numel();
  py::gil_scoped_release nogil;
  at::parallel_for(0, n, 4096, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = tanh_f(p[i]);
  });
}

// ------------------------------------------------------------------------ small products
// The hidden layers' batched products have a tiny inner or outer size (N = 10) and long rows
// (M): memory-bound work that batched GEMM libraries do poorly. Both kernels run over
// (batch, tile of M) items on torch's threads.

// 16 floats in a vector register (GCC/Clang vector extension; AVX-512: one zmm register)
typedef float v16 __attribute__((vector_size(64)));
inline v16 load16(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store16(float* p, v16 v) { std::memcpy(p, &v, sizeof v); }

void check3(const at::Tensor& t, const char* what) {
  TORCH_CHECK(t.scalar_type() == at::kFloat && t.is_contiguous() && t.dim() == 3, what,
              ": a contiguous 3-d float32 tensor");
}

// O[b] = alpha * op(W[b]) X[b], op(W) = W (W: (Bt, n, K)) or W^T (W: (Bt, K, n));
// X: (Bt, K, M), O: (Bt, n, M). Per 16 columns, each output row is summed in a register.
void small_mm_(at::Tensor W, at::Tensor X, at::Tensor O, double alpha, bool trans_w) {
  check3(W, "small_mm_: W");
  check3(X, "small_mm_: X");
  check3(O, "small_mm_: O");
  const int64_t Bt = X.size(0), K = X.size(1), M = X.size(2), n = O.size(1);
  TORCH_CHECK(O.size(0) == Bt && O.size(2) == M && W.size(0) == Bt &&
                  W.size(1) == (trans_w ? K : n) && W.size(2) == (trans_w ? n : K) && K > 0,
              "small_mm_: shapes do not match");
  const float* w = W.data_ptr<float>();
  const float* x = X.data_ptr<float>();
  float* o = O.data_ptr<float>();
  const float af = static_cast<float>(alpha);
  py::gil_scoped_release nogil;
  constexpr int64_t TILE = 512;
  constexpr int V = 16;
  const int64_t tiles = (M + TILE - 1) / TILE;
  at::parallel_for(0, Bt * tiles, 1, [&](int64_t b0, int64_t b1) {
    std::vector<float> wt(static_cast<size_t>(n * K));
    for (int64_t item = b0; item < b1; ++item) {
      const int64_t b = item / tiles, m0 = (item % tiles) * TILE;
      const int64_t m1 = std::min(M, m0 + TILE);
      const float* wb = w + b * n * K;
      for (int64_t i = 0; i < n; ++i)        // op(W) row-major: wt[i K + k]
        for (int64_t k = 0; k < K; ++k) wt[i * K + k] = trans_w ? wb[k * n + i] : wb[i * K + k];
      const float* __restrict__ xb = x + b * K * M;
      float* __restrict__ ob = o + b * n * M;
      int64_t m = m0;
      for (; m + V <= m1; m += V) {
        for (int64_t i = 0; i < n; ++i) {
          const float* wi = wt.data() + i * K;
          v16 acc = wi[0] * load16(xb + m);
          for (int64_t k = 1; k < K; ++k) acc += wi[k] * load16(xb + k * M + m);
          store16(ob + i * M + m, acc * af);
        }
      }
      for (; m < m1; ++m)
        for (int64_t i = 0; i < n; ++i) {
          const float* wi = wt.data() + i * K;
          float acc = wi[0] * xb[m];
          for (int64_t k = 1; k < K; ++k) acc = std::fma(wi[k], xb[k * M + m], acc);
          ob[i * M + m] = acc * af;
        }
    }
  });
}

// O[b] = A[b] X[b]^T: A (Bt, n, M), X (Bt, K, M), O (Bt, n, K). Over tiles of M that stay in
// the L1 cache, each of the n K dot products is summed in a register (16 lanes), then added
// to its total.
void small_mm_nt_(at::Tensor A, at::Tensor X, at::Tensor O) {
  check3(A, "small_mm_nt_: A");
  check3(X, "small_mm_nt_: X");
  check3(O, "small_mm_nt_: O");
  const int64_t Bt = A.size(0), n = A.size(1), M = A.size(2), K = X.size(1);
  TORCH_CHECK(X.size(0) == Bt && X.size(2) == M && O.size(0) == Bt && O.size(1) == n &&
                  O.size(2) == K,
              "small_mm_nt_: shapes do not match");
  const float* a = A.data_ptr<float>();
  const float* x = X.data_ptr<float>();
  float* o = O.data_ptr<float>();
  py::gil_scoped_release nogil;
  constexpr int V = 16;
  constexpr int64_t TILE = 256;
  at::parallel_for(0, Bt, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const float* __restrict__ ab = a + b * n * M;
      const float* __restrict__ xb = x + b * K * M;
      float* ob = o + b * n * K;
      for (int64_t ij = 0; ij < n * K; ++ij) ob[ij] = 0.0f;
      for (int64_t m0 = 0; m0 < M; m0 += TILE) {
        const int64_t m1 = std::min(M, m0 + TILE);
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < K; ++j) {
            const float* __restrict__ ai = ab + i * M;
            const float* __restrict__ xj = xb + j * M;
            v16 r = {};
            int64_t m = m0;
            for (; m + V <= m1; m += V) r += load16(ai + m) * load16(xj + m);
            float t = 0.0f;
            for (; m < m1; ++m) t = std::fma(ai[m], xj[m], t);
            for (int l = 0; l < V; ++l) t += r[l];
            ob[i * K + j] += t;
          }
      }
    }
  });
}

// ------------------------------------------------------------------------ update + walls
struct Coef {
  float a, c, dt, low, high;
};

// One row of particles: the leapfrog update as the eager code rounds it
//   v <- fma(v, a, xi)  (torch.add(xi, v, alpha=a); without noise v * a, which is v when a = 1)
//   v <- fma(F, c, v)   (v.add_(F, alpha=c));   x <- fma(v, dt, x)   (x.add_(v, alpha=dt))
// with F = fma(-D, w, G) when the spin forces are finished here (FT.addcmul_(D, w, value=-1)),
// then the single mirror of fold_ (clamp; C + (C - x) outside; v flips where the result
// differs from C: -v, which is what fold_'s v - 2v gives for every finite |v| < FLT_MAX / 2). Returns 1 when a particle is still outside [low, high] (an overshoot wider than the box),
// else 0 (an integer OR: the loop stays vectorisable).
template <bool NOISE, bool DEFER>
int step_row(float* __restrict__ x, float* __restrict__ v, const float* __restrict__ f,
             const float* __restrict__ d, float w, const float* __restrict__ xi, int64_t n,
             const Coef k) {
  int outside = 0;
  for (int64_t i = 0; i < n; ++i) {
    float fv = DEFER ? std::fma(-d[i], w, f[i]) : f[i];
    float vn = NOISE ? std::fma(v[i], k.a, xi[i]) : v[i] * k.a;
    vn = std::fma(fv, k.c, vn);
    float xn = std::fma(vn, k.dt, x[i]);
    float C = xn < k.low ? k.low : (xn > k.high ? k.high : xn);
    float xf = (xn != C) ? C + (C - xn) : xn;   // inside (or no wall): untouched, inf too
    v[i] = (xf != C) ? -vn : vn;                 // the single fold flips where it mirrored
    x[i] = xf;
    outside |= static_cast<int>(xf < k.low) | static_cast<int>(xf > k.high);
  }
  return outside;
}

Coef make_coef(double a, double c, double dt, double low, double high) {
  return Coef{static_cast<float>(a), static_cast<float>(c), static_cast<float>(dt),
              static_cast<float>(low), static_cast<float>(high)};
}

// The spins, held transposed: x, v, G (spin forces without the -w D term), D contiguous
// (H, R, N, M); w (H, R) float32; xi the (R, P) noise buffer, whose spin part is laid out
// (R, H, M, N) (None: no noise). Returns whether a particle is still outside the walls.
bool leapfrog_spins_(at::Tensor X, at::Tensor V, at::Tensor G, at::Tensor D, at::Tensor w,
                     c10::optional<at::Tensor> xi_opt, double a, double c, double dt, double low,
                     double high) {
  TORCH_CHECK(X.dim() == 4, "leapfrog_spins_: (H, R, N, M) tensors");
  for (auto* t : {&X, &V, &G, &D})
    TORCH_CHECK(t->scalar_type() == at::kFloat && t->is_contiguous() && t->sizes() == X.sizes(),
                "leapfrog_spins_: float32 contiguous tensors of one shape");
  const int64_t H = X.size(0), R = X.size(1), N = X.size(2), M = X.size(3);
  TORCH_CHECK(w.scalar_type() == at::kFloat && w.is_contiguous() && w.numel() == H * R,
              "leapfrog_spins_: w is (H, R) float32");
  const bool noise = xi_opt.has_value() && xi_opt->defined();
  const float* xi = nullptr;
  int64_t xi_row = 0;
  if (noise) {
    const at::Tensor& t = *xi_opt;
    TORCH_CHECK(t.scalar_type() == at::kFloat && t.dim() == 2 && t.size(0) == R &&
                    t.stride(1) == 1 && t.size(1) >= H * M * N,
                "leapfrog_spins_: xi is the (R, P) float32 noise buffer");
    xi = t.data_ptr<float>();
    xi_row = t.stride(0);
  }
  float* x = X.data_ptr<float>();
  float* v = V.data_ptr<float>();
  const float* g = G.data_ptr<float>();
  const float* dd = D.data_ptr<float>();
  const float* ww = w.data_ptr<float>();
  const Coef k = make_coef(a, c, dt, low, high);
  std::atomic<int> outside{0};
  py::gil_scoped_release nogil;
  constexpr int64_t TILE = 2048;
  const int64_t tiles = (M + TILE - 1) / TILE;
  // work items: (layer, configuration, tile of M)
  at::parallel_for(0, H * R * tiles, 1, [&](int64_t b, int64_t e) {
    int out = 0;
    std::vector<float> buf(static_cast<size_t>(noise ? TILE * N : 0));
    for (int64_t item = b; item < e; ++item) {
      const int64_t hr = item / tiles, tile = item % tiles;
      const int64_t h = hr / R, r = hr % R;
      const int64_t m0 = tile * TILE, nm = std::min(M, m0 + TILE) - m0;
      const float wv = ww[h * R + r];
      if (noise) {  // this tile's noise, (M, N) in xi -> (N, M) in buf
        const float* src = xi + r * xi_row + h * M * N + m0 * N;
        for (int64_t n = 0; n < N; ++n) {
          float* dst = buf.data() + n * TILE;
          int64_t m = 0;
#if defined(__AVX512F__)
          const __m512i idx = _mm512_mullo_epi32(
              _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
              _mm512_set1_epi32(static_cast<int>(N)));
          for (; m + 16 <= nm; m += 16)
            _mm512_storeu_ps(dst + m, _mm512_i32gather_ps(idx, src + m * N + n, 4));
#endif
          for (; m < nm; ++m) dst[m] = src[m * N + n];
        }
      }
      for (int64_t n = 0; n < N; ++n) {
        const int64_t base = ((h * R + r) * N + n) * M + m0;
        if (noise)
          out |= step_row<true, true>(x + base, v + base, g + base, dd + base, wv,
                                      buf.data() + n * TILE, nm, k);
        else
          out |= step_row<false, true>(x + base, v + base, g + base, dd + base, wv, nullptr,
                                       nm, k);
      }
    }
    if (out) outside.store(1);
  });
  return outside.load() != 0;
}

// Rows of particles: x, v, F, xi (R, K) float32 views with unit stride along K (any row
// stride; xi None: no noise). Same update and fold as above, F as given.
bool leapfrog_rows_(at::Tensor X, at::Tensor V, at::Tensor F, c10::optional<at::Tensor> xi_opt,
                    double a, double c, double dt, double low, double high) {
  const bool noise = xi_opt.has_value() && xi_opt->defined();
  std::vector<at::Tensor*> ts = {&X, &V, &F};
  if (noise) ts.push_back(&*xi_opt);
  for (auto* t : ts)
    TORCH_CHECK(t->scalar_type() == at::kFloat && t->dim() == 2 && t->stride(1) == 1 &&
                    t->sizes() == X.sizes(),
                "leapfrog_rows_: (R, K) float32 views with unit stride along K");
  const int64_t R = X.size(0), K = X.size(1);
  float* x = X.data_ptr<float>();
  float* v = V.data_ptr<float>();
  const float* f = F.data_ptr<float>();
  const float* xi = noise ? xi_opt->data_ptr<float>() : nullptr;
  const int64_t sx = X.stride(0), sv = V.stride(0), sf = F.stride(0),
                sxi = noise ? xi_opt->stride(0) : 0;
  const Coef k = make_coef(a, c, dt, low, high);
  std::atomic<int> outside{0};
  py::gil_scoped_release nogil;
  constexpr int64_t CH = 4096;
  const int64_t chunks = (K + CH - 1) / CH;
  at::parallel_for(0, R * chunks, 1, [&](int64_t b, int64_t e) {
    int out = 0;
    for (int64_t item = b; item < e; ++item) {
      const int64_t r = item / chunks, k0 = (item % chunks) * CH, n = std::min(K, k0 + CH) - k0;
      if (noise)
        out |= step_row<true, false>(x + r * sx + k0, v + r * sv + k0, f + r * sf + k0, nullptr,
                                     0.0f, xi + r * sxi + k0, n, k);
      else
        out |= step_row<false, false>(x + r * sx + k0, v + r * sv + k0, f + r * sf + k0,
                                      nullptr, 0.0f, nullptr, n, k);
    }
    if (out) outside.store(1);
  });
  return outside.load() != 0;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("normal_rows_", &normal_rows_, "row r of buf from generator r, rows in parallel");
  m.def("hidden_pass_", &hidden_pass_, "tanh, residuals, B and row sums of D^2 in one pass");
  m.def("tanh_", &tanh_, "float32 tanh in place");
  m.def("small_mm_", &small_mm_, "O = alpha op(W) X, batched, tiny n and K, long rows");
  m.def("small_mm_nt_", &small_mm_nt_, "O = A X^T, batched, tiny n and K, long rows");
  m.def("leapfrog_spins_", &leapfrog_spins_, "leapfrog + single-mirror walls, transposed spins");
  m.def("leapfrog_rows_", &leapfrog_rows_, "leapfrog + single-mirror walls on rows");
}
