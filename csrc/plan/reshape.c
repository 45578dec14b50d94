/* A plan re-sized for new input dimensions (csrc/include/int8rt/reshape.h, docs/PLAN.md
 * "Shapes"): shape expressions evaluated, the arena laid out again by liveness, op records
 * re-derived from the template's base records, then the ordinary build path (i8_plan_add_op,
 * i8_plan_finalize) with all its checks. */
#define _POSIX_C_SOURCE 200809L

#include "int8rt/reshape.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 64
#define N_MONO 27 /* (I8_SHAPE_MAX_DEG + 1) ^ I8_SHAPE_MAX_VARS */

static int say(char *err, size_t n, int status, const char *fmt, ...) {
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return status;
}

static int mul_ok(int64_t a, int64_t b, int64_t *r) { return !__builtin_mul_overflow(a, b, r); }
static int add_ok(int64_t a, int64_t b, int64_t *r) { return !__builtin_add_overflow(a, b, r); }

int i8_shape_eval(const i8_shape_template *t, const int64_t *vars, int64_t *values, char *err,
                  size_t err_len) {
    if (!t || !values || (t->n_vars && !vars)) return say(err, err_len, I8_EINVAL, "null pointer");
    if (t->n_vars < 0 || t->n_vars > I8_SHAPE_MAX_VARS)
        return say(err, err_len, I8_EINVAL, "%d shape variables (at most %d)", t->n_vars,
                   I8_SHAPE_MAX_VARS);
    /* every monomial's value, mono = e0 + 3 e1 + 9 e2 (missing variables count as 1) */
    int64_t pw[I8_SHAPE_MAX_VARS][I8_SHAPE_MAX_DEG + 1];
    for (int j = 0; j < I8_SHAPE_MAX_VARS; j++) {
        int64_t v = j < t->n_vars ? vars[j] : 1;
        if (v < 1) return say(err, err_len, I8_EINVAL, "shape variable %d is %lld (< 1)", j,
                              (long long)v);
        pw[j][0] = 1;
        for (int e = 1; e <= I8_SHAPE_MAX_DEG; e++)
            if (!mul_ok(pw[j][e - 1], v, &pw[j][e]))
                return say(err, err_len, I8_EINVAL, "shape variable %d overflows", j);
    }
    int64_t mono[N_MONO];
    for (int m = 0; m < N_MONO; m++) {
        int64_t r = 1;
        for (int j = 0, q = m; j < I8_SHAPE_MAX_VARS; j++, q /= I8_SHAPE_MAX_DEG + 1)
            if (!mul_ok(r, pw[j][q % (I8_SHAPE_MAX_DEG + 1)], &r)) r = INT64_MAX;
        mono[m] = r; /* INT64_MAX: overflowed; only an error if a term uses it */
    }
    for (int32_t i = 0; i < t->n_exprs; i++) {
        const i8_shape_expr *x = &t->exprs[i];
        if (x->first < 0 || x->count < 0 || x->first > t->n_terms - x->count)
            return say(err, err_len, I8_EINVAL, "expr %d: terms out of range", i);
        int64_t acc = 0;
        for (int32_t k = x->first; k < x->first + x->count; k++) {
            const i8_shape_term *term = &t->terms[k];
            int64_t prod;
            if (term->mono < 0 || term->mono >= N_MONO)
                return say(err, err_len, I8_EINVAL, "expr %d: bad monomial", i);
            if (mono[term->mono] == INT64_MAX || !mul_ok(term->coef, mono[term->mono], &prod) ||
                !add_ok(acc, prod, &acc))
                return say(err, err_len, I8_EINVAL, "expr %d overflows for these dimensions", i);
        }
        values[i] = acc;
    }
    return I8_OK;
}

/* ---- resize index maps (kernel_tables.py _source_coords and the two maps) ---------------- *
 * The source coordinate of output index x is an exact rational N / D (D > 0): the float32
 * scale s = M 2^E is P / Q in lowest terms (Q a power of two), and every coordinate mode is a
 * ratio of small integer polynomials in x, P, Q, in and out. With P, Q <= 2^32 and sizes
 * <= 2^24 every term stays below 2^60, so int64 arithmetic is exact (no __int128: armv7 has
 * none) and the ties of the rounding modes come out as the reference's Fractions do. */
#define MAP_MAX_SIZE ((int64_t)1 << 24)
#define MAP_MAX_PQ ((int64_t)1 << 32)

static int64_t floor_div(int64_t n, int64_t d) { return n >= 0 ? n / d : -((-n + d - 1) / d); }

int i8_resize_index_map(int32_t kind, int64_t in_size, int64_t out_size, int32_t ctm,
                        int32_t nearest, int32_t scale_from_sizes, float scale, int32_t *dst) {
    if (in_size < 1 || out_size < 1 || in_size > MAP_MAX_SIZE || out_size > MAP_MAX_SIZE || !dst)
        return I8_EINVAL;
    float s = scale_from_sizes ? (float)((double)out_size / (double)in_size) : scale;
    if (!(s > 0.0f) || !isfinite(s)) return I8_EINVAL;
    int e;
    float m = frexpf(s, &e); /* s = m 2^e, m in [0.5, 1) */
    int64_t P = (int64_t)ldexpf(m, 24); /* s = P 2^(e - 24), P < 2^24 */
    int ex = e - 24;
    while (ex < 0 && !(P & 1)) P >>= 1, ex++; /* lowest terms */
    if (ex > 8 || ex < -32) return I8_EINVAL;
    if (ex > 0) P <<= ex;
    int64_t Q = ex < 0 ? (int64_t)1 << -ex : 1;
    if (P > MAP_MAX_PQ || Q > MAP_MAX_PQ) return I8_EINVAL;
    int64_t in = in_size, out = out_size;
    for (int64_t x = 0; x < out_size; x++) {
        int64_t N, D;
        switch (ctm) {
        case I8_CTM_HALF_PIXEL: N = (2 * x + 1) * Q - P; D = 2 * P; break;
        case I8_CTM_ASYMMETRIC: N = x * Q; D = P; break;
        case I8_CTM_ALIGN_CORNERS:
            if (out_size == 1) N = 0, D = 1;
            else N = x * (in - 1), D = out - 1;
            break;
        case I8_CTM_PYTORCH_HALF_PIXEL:
            if (out_size > 1) N = (2 * x + 1) * Q - P, D = 2 * P;
            else N = 0, D = 1;
            break;
        case I8_CTM_TF_HALF_PIXEL_FOR_NN: N = (2 * x + 1) * Q; D = 2 * P; break;
        case I8_CTM_HALF_PIXEL_SYMMETRIC: /* in/2 (1 - out / (s in)) + (x + 1/2) / s - 1/2 */
            N = in * P - out * Q + (2 * x + 1) * Q - P;
            D = 2 * P;
            break;
        default: return I8_EINVAL;
        }
        if (kind == I8_TGEN_NEAREST) {
            int64_t lo = floor_div(N, D), frac = N - lo * D, j;
            switch (nearest) {
            case I8_NEAREST_ROUND_PREFER_FLOOR: j = lo + (2 * frac > D); break;
            case I8_NEAREST_ROUND_PREFER_CEIL: j = lo + (2 * frac >= D); break;
            case I8_NEAREST_FLOOR: j = lo; break;
            case I8_NEAREST_CEIL: j = lo + (frac > 0); break;
            default: return I8_EINVAL;
            }
            dst[x] = (int32_t)(j < 0 ? 0 : j > in - 1 ? in - 1 : j);
            continue;
        }
        /* linear: clamp to [0, in - 1] (ONNX's edge padding), then the Q11 weight rounded
         * half to even */
        if (N < 0) N = 0;
        if (N > (in - 1) * D) N = (in - 1) * D;
        int64_t lo = N / D, frac = N - lo * D;
        if (kind == I8_TGEN_LINEAR_I0) {
            dst[x] = (int32_t)lo;
        } else if (kind == I8_TGEN_LINEAR_I1) {
            dst[x] = (int32_t)(lo + 1 < in - 1 ? lo + 1 : in - 1);
        } else if (kind == I8_TGEN_LINEAR_W1) {
            int64_t t = frac * 2048, q = t / D, r = t - q * D;
            q += 2 * r > D || (2 * r == D && (q & 1));
            dst[x] = (int32_t)q;
        } else {
            return I8_EINVAL;
        }
    }
    return I8_OK;
}

/* ---- the arena: greedy by size, first fit (int8rt/plan.py assign_offsets) ----------------- */
typedef struct {
    int64_t size;
    int32_t first, last, buf;
} live_buf;

typedef struct {
    int64_t start, end;
} span;

static int by_size(const void *pa, const void *pb) {
    const live_buf *a = pa, *b = pb;
    if (a->size != b->size) return a->size > b->size ? -1 : 1;
    if (a->first != b->first) return a->first < b->first ? -1 : 1;
    return a->buf < b->buf ? -1 : a->buf > b->buf;
}

static int by_start(const void *pa, const void *pb) {
    const span *a = pa, *b = pb;
    return a->start < b->start ? -1 : a->start > b->start;
}

static int64_t align_up(int64_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

/* offsets[buf] for every ARENA buffer; returns the arena's byte size or -1 (no memory) */
static int64_t lay_out(const i8_shape_template *t, const int64_t *nbytes, int64_t *offsets) {
    int32_t n = 0;
    for (int32_t i = 0; i < t->n_bufs; i++) n += t->bufs[i].kind == I8_TBUF_ARENA;
    live_buf *order = malloc(sizeof(live_buf) * (size_t)(n + 1));
    span *busy = malloc(sizeof(span) * (size_t)(n + 1));
    live_buf *placed = malloc(sizeof(live_buf) * (size_t)(n + 1)); /* size field = offset */
    if (!order || !busy || !placed) {
        free(order), free(busy), free(placed);
        return -1;
    }
    n = 0;
    for (int32_t i = 0; i < t->n_bufs; i++)
        if (t->bufs[i].kind == I8_TBUF_ARENA)
            order[n++] = (live_buf){nbytes[i], t->bufs[i].first, t->bufs[i].last, i};
    qsort(order, (size_t)n, sizeof *order, by_size);
    int64_t arena = 0;
    for (int32_t k = 0; k < n; k++) {
        const live_buf *b = &order[k];
        int32_t nb = 0;
        for (int32_t j = 0; j < k; j++) {
            const live_buf *p = &placed[j];
            int64_t end = p->size + nbytes[p->buf];
            if (p->first <= b->last && b->first <= p->last && end > p->size)
                busy[nb++] = (span){p->size, end};
        }
        qsort(busy, (size_t)nb, sizeof *busy, by_start);
        int64_t off = 0;
        for (int32_t j = 0; j < nb; j++) {
            if (off + b->size <= busy[j].start) break;
            if (align_up(busy[j].end) > off) off = align_up(busy[j].end);
        }
        offsets[b->buf] = off;
        placed[k] = (live_buf){off, b->first, b->last, b->buf};
        if (off + b->size > arena) arena = off + b->size;
    }
    free(order), free(busy), free(placed);
    return arena;
}

/* the bytes of a FILL / RAMP / TILE constant (TILE: `src` holds `period` bytes) */
static void *generate(const i8_shape_buf *b, int64_t nbytes, int64_t period,
                      const unsigned char *src) {
    void *data = malloc(nbytes > 0 ? (size_t)nbytes : 1);
    if (!data) return NULL;
    unsigned char *p = data;
    if (b->kind == I8_TBUF_FILL) {
        unsigned char one[8];
        for (int k = 0; k < 8; k++) one[k] = (unsigned char)((uint64_t)b->value >> (8 * k));
        for (int64_t i = 0; i < nbytes; i += b->elem_size)
            memcpy(p + i, one, (size_t)b->elem_size); /* little-endian targets only (x86, ARM) */
    } else if (b->kind == I8_TBUF_TILE) {
        for (int64_t i = 0; i < nbytes; i += period)
            memcpy(p + i, src, (size_t)(nbytes - i < period ? nbytes - i : period));
    } else {
        int64_t *v = data;
        for (int64_t i = 0; i < nbytes / 8; i++)
            v[i] = (int64_t)((uint64_t)b->value + (uint64_t)b->step * (uint64_t)(i % period));
    }
    return data;
}

int i8_plan_reshape(const i8_shape_template *t, const int64_t *vars, int64_t *values,
                    int64_t *arena_nbytes, i8_plan **out, char *err, size_t err_len) {
    if (!out || !values || !arena_nbytes) return say(err, err_len, I8_EINVAL, "null pointer");
    *out = NULL;
    int st = i8_shape_eval(t, vars, values, err, err_len);
    if (st != I8_OK) return st;
    if (t->n_inputs < 0 || t->n_outputs < 0 || t->n_bufs < 0 || t->n_ops < 0 ||
        t->n_consts < 0 || t->n_patches < 0 || t->n_gens < 0 || t->n_fpatches < 0)
        return say(err, err_len, I8_EINVAL, "negative count in the template");

    size_t nb = (size_t)t->n_bufs + 1;
    int64_t *nbytes = malloc(sizeof(int64_t) * nb);
    int64_t *offsets = calloc(nb, sizeof(int64_t));
    int32_t *const_index = malloc(sizeof(int32_t) * nb);
    int64_t *io = malloc(sizeof(int64_t) * ((size_t)t->n_inputs + (size_t)t->n_outputs + 1));
    i8_plan *plan = NULL;
    void *gen_data[I8_PLAN_MAX_CONSTS] = {0}; /* one op's generated consts */
    if (!nbytes || !offsets || !const_index || !io) {
        st = say(err, err_len, I8_ENOMEM, "out of memory");
        goto done;
    }
    for (int32_t i = 0; i < t->n_inputs + t->n_outputs; i++) io[i] = -1;
    for (int32_t i = 0; i < t->n_bufs; i++) {
        const i8_shape_buf *b = &t->bufs[i];
        if (b->nbytes < 0 || b->nbytes >= t->n_exprs) {
            st = say(err, err_len, I8_EINVAL, "buffer %d: bad expr", i);
            goto done;
        }
        nbytes[i] = values[b->nbytes];
        if (nbytes[i] < 0) {
            st = say(err, err_len, I8_EINVAL, "buffer %d has %lld bytes for these dimensions", i,
                     (long long)nbytes[i]);
            goto done;
        }
        int bad = 0;
        if (b->kind == I8_TBUF_INPUT) {
            bad = b->index < 0 || b->index >= t->n_inputs || io[b->index] >= 0;
            if (!bad) io[b->index] = nbytes[i];
        } else if (b->kind == I8_TBUF_OUTPUT) {
            bad = b->index < 0 || b->index >= t->n_outputs || io[t->n_inputs + b->index] >= 0;
            if (!bad) io[t->n_inputs + b->index] = nbytes[i];
        } else if (b->kind == I8_TBUF_ARENA) {
            bad = b->first < 0 || b->last < b->first || b->last >= t->n_ops;
        } else if (b->kind == I8_TBUF_CONST) {
            bad = b->index < 0 || b->index >= t->n_consts || b->offset < 0;
        } else if (b->kind == I8_TBUF_FILL) {
            bad = !(b->elem_size == 1 || b->elem_size == 2 || b->elem_size == 4 ||
                    b->elem_size == 8) || nbytes[i] % b->elem_size;
        } else if (b->kind == I8_TBUF_RAMP) {
            bad = b->elem_size != 8 || nbytes[i] % 8 || b->period < 0 ||
                  b->period >= t->n_exprs || values[b->period] < 1;
        } else if (b->kind == I8_TBUF_TILE) {
            bad = b->index < 0 || b->index >= t->n_consts || b->period < 0 ||
                  b->period >= t->n_exprs || values[b->period] < 1 || b->offset < 0 ||
                  b->offset > t->const_nbytes[b->index] ||
                  values[b->period] > t->const_nbytes[b->index] - b->offset ||
                  nbytes[i] % values[b->period];
        } else {
            bad = 1;
        }
        if (bad) {
            st = say(err, err_len, I8_EINVAL, "buffer %d (kind %d): invalid for these dimensions",
                     i, b->kind);
            goto done;
        }
    }
    for (int32_t i = 0; i < t->n_inputs + t->n_outputs; i++)
        if (io[i] < 0) {
            st = say(err, err_len, I8_EINVAL, "model input / output %d has no buffer", i);
            goto done;
        }
    int64_t arena = lay_out(t, nbytes, offsets);
    if (arena < 0) {
        st = say(err, err_len, I8_ENOMEM, "out of memory");
        goto done;
    }

    st = i8_plan_create(t->n_inputs, io, t->n_outputs, io + t->n_inputs, &plan);
    if (st != I8_OK) {
        say(err, err_len, st, "plan create: %s", i8_status_str(st));
        goto done;
    }
    /* the weights and tables: borrowed, never copied (64-byte aligned by the template) */
    int32_t *template_const = malloc(sizeof(int32_t) * ((size_t)t->n_consts + 1));
    if (!template_const) {
        st = say(err, err_len, I8_ENOMEM, "out of memory");
        goto done;
    }
    for (int32_t k = 0; k < t->n_consts && st == I8_OK; k++)
        st = i8_plan_add_const_ref(plan, t->const_data[k], t->const_nbytes[k], &template_const[k]);
    for (int32_t i = 0; i < t->n_bufs && st == I8_OK; i++) {
        const i8_shape_buf *b = &t->bufs[i];
        if (b->kind == I8_TBUF_CONST) {
            const_index[i] = template_const[b->index];
        } else if (b->kind == I8_TBUF_FILL || b->kind == I8_TBUF_RAMP ||
                   b->kind == I8_TBUF_TILE) {
            const unsigned char *src = b->kind == I8_TBUF_TILE
                ? (const unsigned char *)t->const_data[b->index] + b->offset : NULL;
            void *data = generate(b, nbytes[i], b->kind == I8_TBUF_FILL ? 1 : values[b->period],
                                  src);
            if (!data) {
                st = I8_ENOMEM;
                break;
            }
            st = i8_plan_add_const(plan, data, nbytes[i], &const_index[i]);
            free(data);
        }
    }
    free(template_const);
    if (st != I8_OK) {
        say(err, err_len, st, "constants: %s", i8_plan_error(plan));
        goto done;
    }

    for (int32_t op = 0, k = 0, kf = 0, kg = 0; op < t->n_ops; op++) {
        i8_op_desc d = t->ops[op];
        for (int j = 0; j < I8_PLAN_MAX_CONSTS; j++) free(gen_data[j]), gen_data[j] = NULL;
        for (; k < t->n_patches && t->patches[k].op == op; k++) {
            const i8_shape_patch *p = &t->patches[k];
            if (p->expr < 0 || p->expr >= t->n_exprs || p->offset < 0 ||
                (p->width != 4 && p->width != 8) ||
                (size_t)p->offset + (size_t)p->width > sizeof d || p->offset % p->width) {
                st = say(err, err_len, I8_EINVAL, "op %d: bad patch %d", op, k);
                goto done;
            }
            int64_t v = values[p->expr];
            if (p->width == 4) {
                if (v < INT32_MIN || v > INT32_MAX) {
                    st = say(err, err_len, I8_EINVAL, "op %d: a size parameter (%lld) does not "
                             "fit its int32 field", op, (long long)v);
                    goto done;
                }
                int32_t v32 = (int32_t)v;
                memcpy((char *)&d + p->offset, &v32, 4);
            } else {
                memcpy((char *)&d + p->offset, &v, 8);
            }
        }
        if (k < t->n_patches && t->patches[k].op < op) {
            st = say(err, err_len, I8_EINVAL, "patches not sorted by op");
            goto done;
        }
        for (; kf < t->n_fpatches && t->fpatches[kf].op == op; kf++) {
            const i8_shape_fpatch *p = &t->fpatches[kf];
            if (p->expr < 0 || p->expr >= t->n_exprs || p->offset < 0 || p->offset % 4 ||
                (size_t)p->offset + 4 > sizeof d) {
                st = say(err, err_len, I8_EINVAL, "op %d: bad float patch %d", op, kf);
                goto done;
            }
            /* the lowering's double arithmetic, then one rounding to float32 */
            float f = (float)(p->num / (p->den * (double)values[p->expr]));
            memcpy((char *)&d + p->offset, &f, 4);
        }
        if (kf < t->n_fpatches && t->fpatches[kf].op < op) {
            st = say(err, err_len, I8_EINVAL, "float patches not sorted by op");
            goto done;
        }
        int32_t n_gen = 0;
        for (; kg < t->n_gens && t->gens[kg].op == op; kg++) {
            const i8_shape_gen *g = &t->gens[kg];
            if (n_gen >= I8_PLAN_MAX_CONSTS || g->slot < 0 || g->slot >= d.n_consts || g->slot >= I8_PLAN_MAX_CONSTS ||
                g->in_expr < 0 || g->in_expr >= t->n_exprs || g->out_expr < 0 ||
                g->out_expr >= t->n_exprs || values[g->out_expr] < 1 ||
                values[g->out_expr] > INT32_MAX) {
                st = say(err, err_len, I8_EINVAL, "op %d: bad generated const %d", op, kg);
                goto done;
            }
            int32_t *map = malloc(sizeof(int32_t) * (size_t)values[g->out_expr]);
            if (!map) {
                st = say(err, err_len, I8_ENOMEM, "out of memory");
                goto done;
            }
            gen_data[n_gen++] = map;
            if (i8_resize_index_map(g->kind, values[g->in_expr], values[g->out_expr], g->ctm,
                                    g->nearest, g->scale_from_sizes, g->scale, map) != I8_OK) {
                st = say(err, err_len, I8_EINVAL, "op %d: resize index map for sizes %lld -> "
                         "%lld refused", op, (long long)values[g->in_expr],
                         (long long)values[g->out_expr]);
                goto done;
            }
            d.consts[g->slot] = map;
            d.const_nbytes[g->slot] = 4 * values[g->out_expr];
        }
        if (kg < t->n_gens && t->gens[kg].op < op) {
            st = say(err, err_len, I8_EINVAL, "generated consts not sorted by op");
            goto done;
        }
        const int w = I8_PLAN_MAX_INPUTS + 1;
        for (int j = 0; j < w; j++) {
            int32_t bi = t->op_bufs[w * op + j];
            if (j < I8_PLAN_MAX_INPUTS && j >= d.n_inputs) continue;
            if (bi < 0 || bi >= t->n_bufs) {
                st = say(err, err_len, I8_EINVAL, "op %d: bad buffer id", op);
                goto done;
            }
            const i8_shape_buf *b = &t->bufs[bi];
            i8_buf_ref r = {0, 0, 0, nbytes[bi]};
            switch (b->kind) {
            case I8_TBUF_ARENA: r.kind = I8_REF_ARENA; r.offset = offsets[bi]; break;
            case I8_TBUF_INPUT: r.kind = I8_REF_INPUT; r.index = b->index; break;
            case I8_TBUF_OUTPUT: r.kind = I8_REF_OUTPUT; r.index = b->index; break;
            case I8_TBUF_CONST: r.kind = I8_REF_CONST; r.index = const_index[bi];
                                r.offset = b->offset; break;
            default: r.kind = I8_REF_CONST; r.index = const_index[bi]; break;
            }
            if (j < I8_PLAN_MAX_INPUTS) d.inputs[j] = r;
            else d.output = r;
        }
        st = i8_plan_add_op(plan, &d); /* copies the generated consts */
        if (st != I8_OK) {
            say(err, err_len, st, "%s", i8_plan_error(plan));
            goto done;
        }
    }
    st = i8_plan_finalize(plan, arena);
    if (st != I8_OK) {
        say(err, err_len, st, "%s", i8_plan_error(plan));
        goto done;
    }
    *arena_nbytes = arena;
    *out = plan;
    plan = NULL;
done:
    for (int j = 0; j < I8_PLAN_MAX_CONSTS; j++) free(gen_data[j]);
    i8_plan_destroy(plan);
    free(nbytes), free(offsets), free(const_index), free(io);
    return st;
}
