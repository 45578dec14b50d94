/* LSTM and GRU layers with dynamic int8 weights (ONNX semantics, layout 0), one call per
 * layer: the kernel loops over the time steps itself (docs/TRANSFORMERS.md "LSTM and GRU").
 *
 * Per direction d: XW = dynq(x [T*B, I], W_d) + Wb_d for all steps at once (one int8 gemm),
 * then per step HR = dynq(h [B, H], R_d) + Rb_d (activations quantized per row, i.e. per
 * batch row and time step, through i8_dq_matmul) and the gates in float32:
 *   LSTM (gates i, o, f, c):  i = σ(xi + hi), o = σ(xo + ho), f = σ(xf + hf),
 *     g = tanh(xc + hc), C = f*C + i*g, H = o * tanh(C)
 *   GRU (gates z, r, h):  z = σ(xz + hz), r = σ(xr + hr),
 *     linear_before_reset 1: n = tanh(xh + r * dynq(H, R_h) + Rb_h)
 *     linear_before_reset 0: n = tanh(xh + (dynq(r ⊙ H, R_h) + Rb_h))
 *     H = (1 - z) * n + z * H
 * σ(v) = (float)(1 / (1 + exp(-(double)v))), tanh(v) = (float)tanh((double)v): the C
 * library's double exp / tanh rounded to float32 (the numpy reference calls the same libm
 * through Python's math module, so native == reference exactly). Every other operation is a
 * float32 operation in the order written (no FMA contraction).
 *
 * sequence_lens: batch row b runs steps 0 .. lens[b]-1 (1 <= lens[b] <= T); the reverse
 * direction starts at lens[b]-1; Y is 0 at t >= lens[b]; Y_h / Y_c hold the state after the
 * row's last step. */
#ifndef INT8RT_RNN_H
#define INT8RT_RNN_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t seq, batch, input, hidden; /* T, B, I, H */
    int32_t cell;                      /* 0 LSTM (4 gates), 1 GRU (3 gates) */
    int32_t dirs;                      /* 1 or 2 (bidirectional: forward then reverse) */
    int32_t reverse;                   /* dirs == 1: 1 runs the reverse direction */
    int32_t linear_before_reset;       /* GRU */
    int32_t has_h0, has_c0, has_lens;  /* c0: LSTM only */
} i8_rnn_params;

/* Checks the params; NULL or the reason they are invalid. */
const char *i8_rnn_check(const i8_rnn_params *p);
/* The packed weight blob: per direction W [G*H, I], then R (LSTM: [4H, H]; GRU: R_zr [2H, H]
 * and R_h [H, H]), each an i8dq panel starting on a 64-byte boundary. */
size_t i8_rnn_packed_size(const i8_rnn_params *p);
/* qw [D, G*H, I], sw [D, G*H], qr [D, G*H, H], sr [D, G*H] (ONNX gate order) */
void i8_rnn_pack(const i8_rnn_params *p, const int8_t *qw, const float *sw, const int8_t *qr,
                const float *sr, void *packed);
size_t i8_rnn_scratch_size(const i8_rnn_params *p);
/* Output elements: Y [T, D, B, H] then Y_h [D, B, H] then (LSTM) Y_c [D, B, H]. */
int64_t i8_rnn_out_size(const i8_rnn_params *p);
/* x [T, B, I]; bias [D, 2*G*H] (Wb then Rb, as ONNX B); init: h0 [D, B, H] if has_h0 then c0
 * [D, B, H] if has_c0 (NULL when neither); lens [B] int32 or NULL. */
void i8_rnn_run(const i8_rnn_params *p, const float *x, const void *packed, const float *bias,
               const float *init, const int32_t *lens, float *y, void *scratch);

#endif
