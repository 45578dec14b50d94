/* Recurrent-cell gate math in float32 (LSTM and GRU element-wise step), one batch row at a
 * time. Every path (portable C, AVX2) runs the same float32 operations in the same order, no
 * FMA, so the result is bit-identical on every CPU and in the numpy reference
 * (int8rt/reference/rnn.py `gate_exp`).
 *
 * exp(v): v clamped to [-87.3, 88.3]; n = rint(v * log2 e) (ties to even); r = v - n * C1 -
 * n * C2 (C1 + C2 = ln 2, Cody-Waite split, C1 exact in 9 bits); exp(r) by the Cephes expf
 * degree-6 polynomial (S. L. Moshier, Cephes Math Library, expf.c coefficients), Horner,
 * then times 2^n built in the exponent field. sigma(v) = 1 / (1 + exp(-v)),
 * tanh(v) = sign(v) * (1 - 2 / (1 + exp(2|v|))).
 * Against the C library in double rounded to float32 (tests/kernels/test_rnn.py measures it
 * over a dense grid): |sigma error| <= 2e-7, |tanh error| <= 3e-7 (absolute). */
#ifndef INT8RT_RNN_GATES_H
#define INT8RT_RNN_GATES_H

#include <stdint.h>

/* LSTM (ONNX gate order i, o, f, c): xg, hg [4H] pre-activations (x·W + Wb, h·R + Rb);
 * c, h [H] updated in place; y [H] gets h. */
void i8rnn_lstm_row__scalar(int64_t H, const float *xg, const float *hg, float *c, float *h,
                            float *y, int64_t from);
/* GRU (z, r, h): xg [3H], hg [2H] (z, r parts of h·R_zr + Rb), hh [H]: the h part
 * (linear_before_reset 1: h·R_h + Rb_h, multiplied by r here; 0: (r ⊙ h)·R_h + Rb_h). */
void i8rnn_gru_row__scalar(int64_t H, int32_t lbr, const float *xg, const float *hg,
                           const float *hh, float *h, float *y, int64_t from);
/* GRU, linear_before_reset 0, before the h-part matmul: t[j] = sigma(xr + hr) * h[j]. */
void i8rnn_gru_reset__scalar(int64_t H, const float *xg, const float *hg, const float *h,
                             float *t, int64_t from);
/* element-wise gate functions over n values (tests) */
void i8rnn_sigmoid__scalar(int64_t n, const float *x, float *y, int64_t from);
void i8rnn_tanh__scalar(int64_t n, const float *x, float *y, int64_t from);

#if defined(__x86_64__) || defined(__i386__)
/* the same, 8 lanes at a time; each returns how many leading elements it did */
int64_t i8rnn_lstm_row__avx2(int64_t H, const float *xg, const float *hg, float *c, float *h,
                             float *y);
int64_t i8rnn_gru_row__avx2(int64_t H, int32_t lbr, const float *xg, const float *hg,
                            const float *hh, float *h, float *y);
int64_t i8rnn_gru_reset__avx2(int64_t H, const float *xg, const float *hg, const float *h,
                              float *t);
int64_t i8rnn_sigmoid__avx2(int64_t n, const float *x, float *y);
int64_t i8rnn_tanh__avx2(int64_t n, const float *x, float *y);
#endif

/* dispatch on the current ISA path (int8rt/cpu.h) */
void i8rnn_lstm_row(int64_t H, const float *xg, const float *hg, float *c, float *h, float *y);
void i8rnn_gru_row(int64_t H, int32_t lbr, const float *xg, const float *hg, const float *hh,
                   float *h, float *y);
void i8rnn_gru_reset(int64_t H, const float *xg, const float *hg, const float *h, float *t);
void i8rnn_gate_fn(int32_t which, int64_t n, const float *x, float *y); /* 0 sigma, 1 tanh */

#endif
