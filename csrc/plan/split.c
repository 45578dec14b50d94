/* Splitting the non-gemm ops over threads: csrc/plan/split.h. */
#include "plan/split.h"

#include <string.h>

#include "int8rt/dynq.h"

/* `units` slices of `work` elements each (double: a product of checked sizes, never needs to
 * be exact) */
/* I8_SPLIT_CHUNK, or what a test set (i8_plan_set_split_chunk) */
static int64_t split_chunk = I8_SPLIT_CHUNK;

int64_t i8_plan_set_split_chunk(int64_t chunk) {
    const int64_t before = split_chunk;
    split_chunk = chunk > 0 ? chunk : I8_SPLIT_CHUNK;
    return before;
}

static void by_work(i8_split *s, int64_t units, double work) {
    s->units = units > 0 ? units : 0;
    s->per = s->units > 0 ? s->units : 1;
    s->tasks = 1;
    if (units < 2 || work <= 0 || (double)units * work < 2.0 * split_chunk) return;
    const double per = (double)split_chunk / work;
    s->per = per < 1 ? 1 : (int64_t)per;
    s->tasks = (units + s->per - 1) / s->per;
}

void i8_split_of(int32_t kind, const i8_op_params *p, i8_split *s) {
    memset(s, 0, sizeof *s);
    s->per = 1;
    s->tasks = 1;
    switch (kind) {
    case I8_OP_ADD:
    case I8_OP_MUL: {
        const i8_binary_params *c = &p->binary;
        /* the outermost axis longer than 1: the axes before it have extent 1, so a range of
         * its slices is one contiguous block of the (row-major) output */
        int32_t ax = 0;
        while (ax < c->ndim && c->shape[ax] == 1) ax++;
        if (ax == c->ndim) return;
        double inner = 1;
        for (int32_t i = ax + 1; i < c->ndim; i++) inner *= (double)c->shape[i];
        s->axis = ax;
        by_work(s, c->shape[ax], inner);
        return;
    }
    case I8_OP_REQUANT_COPY: {
        const i8_requant_copy_params *c = &p->requant_copy.base;
        if (c->rows == 0 || c->cols == 0) return;
        if (c->rows >= 2) by_work(s, c->rows, (double)c->cols);
        else by_work(s, c->cols, 1);
        return;
    }
    case I8_OP_MAXPOOL:
    case I8_OP_AVGPOOL: {
        const i8_pool_params *c = &p->pool;
        by_work(s, (int64_t)c->n * c->oh, (double)c->ow * c->c * c->kh * c->kw);
        return;
    }
    case I8_OP_LUT: by_work(s, p->lut.n, 1); return;
    case I8_OP_QUANTIZE:
    case I8_OP_DEQUANTIZE: /* by elements, or by pixels when the layout move is fused in */
        if (p->quant.c > 0) by_work(s, p->quant.n / p->quant.c, (double)p->quant.c);
        else by_work(s, p->quant.n, 1);
        return;
    case I8_OP_SOFTMAX: by_work(s, p->softmax.rows, (double)p->softmax.cols); return;
    case I8_OP_RESIZE_NEAREST: {
        const i8_plan_resize_nearest_params *c = &p->resize_nearest;
        by_work(s, (int64_t)c->n * c->oh, (double)c->ow * c->c);
        return;
    }
    case I8_OP_RESIZE_BILINEAR: {
        const i8_resize_bilinear_params *c = &p->resize_bilinear;
        by_work(s, (int64_t)c->n * c->oh, (double)c->ow * c->c * 4);
        return;
    }
    case I8_OP_F32_BINARY: {
        const i8_plan_f32_binary_params *c = &p->f32_binary;
        int32_t ax = 0;
        while (ax < c->s.ndim && c->s.shape[ax] == 1) ax++;
        if (ax == c->s.ndim) return;
        double inner = 1;
        for (int32_t i = ax + 1; i < c->s.ndim; i++) inner *= (double)c->s.shape[i];
        s->axis = ax;
        by_work(s, c->s.shape[ax], inner);
        return;
    }
    case I8_OP_F32_UNARY: by_work(s, p->f32_unary.n, 4); return; /* libm calls: ~4x a copy */
    case I8_OP_LAYERNORM: by_work(s, p->layernorm.rows, 2.0 * p->layernorm.cols); return;
    case I8_OP_F32_SOFTMAX: by_work(s, p->rows.rows, 4.0 * p->rows.cols); return;
    case I8_OP_MATMUL: {
        /* the outermost batch axis longer than 1 (heads), else the rows; a MAC counts 1/16 of
         * an element, as for the int8 gemm splits (one task per ~2^18 MACs) */
        const i8_plan_matmul_params *c = &p->matmul;
        const double mac = (double)c->m * c->k * c->n / 16.0;
        int32_t ax = 0;
        while (ax < c->batch.ndim && c->batch.shape[ax] == 1) ax++;
        if (ax < c->batch.ndim) {
            double inner = mac;
            for (int32_t i = ax + 1; i < c->batch.ndim; i++) inner *= (double)c->batch.shape[i];
            s->axis = ax;
            by_work(s, c->batch.shape[ax], inner);
        } else {
            s->axis = -1;
            by_work(s, c->m, (double)c->k * c->n / 16.0);
        }
        return;
    }
    case I8_OP_DYNQ_MATMUL:
        /* rows (tokens): each task quantizes its own rows; per-tensor scales need every row,
         * so that mode stays one task. At least 16 rows a task: the gemm works in row tiles. */
        if (!p->dynq.per_row) return;
        by_work(s, p->dynq.m, (double)p->dynq.n * p->dynq.k / 16.0);
        if (s->tasks > 1 && s->per < 16) {
            s->per = 16;
            s->tasks = (s->units + 15) / 16;
        }
        return;
    case I8_OP_WO_MATMUL:
        /* rows; int8 weights: each task dequantizes every weight group again, so tasks of
         * >= 32 rows; int4 (W4A8): each task quantizes its own rows, tiles of 8 rows */
        by_work(s, p->wo.m, (double)p->wo.n * p->wo.k / 16.0);
        if (s->tasks > 1 && s->per < (p->wo.bits == 4 ? 16 : 32)) {
            s->per = p->wo.bits == 4 ? 16 : 32;
            s->tasks = (s->units + s->per - 1) / s->per;
        }
        return;
    case I8_OP_STRIDED_COPY: {
        /* slices of the outermost axis longer than 1 (a head transpose: the heads); each
         * task moves its slices' offsets, so any strides (negative too) stay valid */
        const i8_plan_strided_copy_params *c = &p->strided_copy;
        int32_t ax = 0;
        while (ax < c->s.ndim && c->s.shape[ax] == 1) ax++;
        if (ax == c->s.ndim) return;
        double inner = 1;
        for (int32_t i = ax + 1; i < c->s.ndim; i++) inner *= (double)c->s.shape[i];
        s->axis = ax;
        by_work(s, c->s.shape[ax], inner * 2.0); /* strided reads: ~2x a contiguous copy */
        return;
    }
    case I8_OP_ATTENTION: {
        /* whole heads: (batch, head) pairs; a head costs about 2 lq lk dh MACs + lq lk exps */
        const i8_f32_attention_params *c = &p->attention;
        by_work(s, c->batch * c->heads, (double)c->lq * c->lk * (2.0 * c->dh / 16.0 + 4.0));
        return;
    }
    default: return; /* global_avgpool, transpose, slice, pad, copy, gathers, cast, where,
                      * reduce, strided copies: one task */
    }
}

void i8_split_run(int32_t kind, const i8_op_params *p, void *const *consts,
                  const void *const *in, void *y, void *scratch, const i8_split *s, int64_t u0,
                  int64_t u1) {
    if (u1 > s->units) u1 = s->units;
    if (u0 >= u1) return;
    const int64_t cnt = u1 - u0;
    const void *x = in[0], *x2 = in[1];
    switch (kind) {
    case I8_OP_ADD:
    case I8_OP_MUL: {
        i8_binary_params c = p->binary;
        const int32_t ax = s->axis;
        int64_t inner = 1;
        for (int32_t i = ax + 1; i < c.ndim; i++) inner *= c.shape[i];
        c.shape[ax] = cnt;
        const int8_t *a = (const int8_t *)x + u0 * c.a_stride[ax];
        const int8_t *b = (const int8_t *)x2 + u0 * c.b_stride[ax];
        int8_t *out = (int8_t *)y + u0 * inner;
        if (kind == I8_OP_ADD) i8_add_run(&c, a, b, out);
        else i8_mul_run(&c, a, b, out);
        return;
    }
    case I8_OP_REQUANT_COPY: {
        const i8_plan_requant_copy_params *r = &p->requant_copy;
        i8_requant_copy_params c = r->base;
        const int8_t *src = (const int8_t *)x + r->x_offset;
        int8_t *dst = (int8_t *)y + r->y_offset;
        if (c.rows >= 2) {
            src += u0 * c.x_stride;
            dst += u0 * c.y_stride;
            c.rows = cnt;
        } else {
            src += u0;
            dst += u0;
            c.cols = cnt;
        }
        i8_requant_copy_run(&c, src, dst);
        return;
    }
    case I8_OP_MAXPOOL:
    case I8_OP_AVGPOOL: {
        /* rows of one image at a time: n = 1, oh = the rows, the top pad moved by the first
         * row (it may go negative: the kernel only uses it in oy * stride_h - pad_t) */
        const i8_pool_params *c = &p->pool;
        const int64_t img = (int64_t)c->h * c->w * c->c, orow = (int64_t)c->ow * c->c;
        for (int64_t u = u0; u < u1;) {
            const int64_t b = u / c->oh, oy = u % c->oh;
            const int64_t k = u1 - u < c->oh - oy ? u1 - u : c->oh - oy;
            i8_pool_params q = *c;
            q.n = 1;
            q.oh = (int32_t)k;
            q.pad_t = c->pad_t - (int32_t)oy * c->stride_h;
            const int8_t *xs = (const int8_t *)x + b * img;
            int8_t *ys = (int8_t *)y + (b * c->oh + oy) * orow;
            if (kind == I8_OP_MAXPOOL) i8_maxpool_run(&q, xs, ys);
            else i8_avgpool_run(&q, consts[0], xs, ys);
            u += k;
        }
        return;
    }
    case I8_OP_LUT:
        i8_lut_run(cnt, consts[0], (const int8_t *)x + u0, (int8_t *)y + u0);
        return;
    case I8_OP_QUANTIZE:
        if (p->quant.c > 0)
            i8_quantize_f32_nchw_run(p->quant.c, p->quant.hw, u0, u1, x, p->quant.scale,
                                     p->quant.zp, y);
        else
            i8_quantize_f32_run(cnt, (const float *)x + u0, p->quant.scale, p->quant.zp,
                                (int8_t *)y + u0);
        return;
    case I8_OP_DEQUANTIZE:
        if (p->quant.c > 0)
            i8_dequantize_f32_nchw_run(p->quant.c, p->quant.hw, u0, u1, x, p->quant.scale,
                                       p->quant.zp, y);
        else
            i8_dequantize_f32_run(cnt, (const int8_t *)x + u0, p->quant.scale, p->quant.zp,
                                  (float *)y + u0);
        return;
    case I8_OP_SOFTMAX: {
        const i8_plan_softmax_params *c = &p->softmax;
        i8_softmax_run(cnt, c->cols, consts[0], c->inv_y_scale, c->y_zp,
                       (const int8_t *)x + u0 * c->cols, (int8_t *)y + u0 * c->cols);
        return;
    }
    case I8_OP_RESIZE_NEAREST: {
        const i8_plan_resize_nearest_params *c = &p->resize_nearest;
        const int64_t es = c->elem_size;
        const int64_t img = (int64_t)c->h * c->w * c->c * es, orow = (int64_t)c->ow * c->c * es;
        for (int64_t u = u0; u < u1;) {
            const int64_t b = u / c->oh, oy = u % c->oh;
            const int64_t k = u1 - u < c->oh - oy ? u1 - u : c->oh - oy;
            i8_resize_nearest_run(1, c->h, c->w, c->c, (int32_t)k, c->ow,
                                 (const int32_t *)consts[0] + oy, consts[1], (size_t)es,
                                 (const char *)x + b * img, (char *)y + (b * c->oh + oy) * orow);
            u += k;
        }
        return;
    }
    case I8_OP_RESIZE_BILINEAR: {
        const i8_resize_bilinear_params *c = &p->resize_bilinear;
        const int64_t img = (int64_t)c->h * c->w * c->c, orow = (int64_t)c->ow * c->c;
        for (int64_t u = u0; u < u1;) {
            const int64_t b = u / c->oh, oy = u % c->oh;
            const int64_t k = u1 - u < c->oh - oy ? u1 - u : c->oh - oy;
            i8_resize_bilinear_params q = *c;
            q.n = 1;
            q.oh = (int32_t)k;
            i8_resize_bilinear_run(&q, (const int32_t *)consts[0] + oy,
                                   (const int32_t *)consts[1] + oy,
                                   (const int32_t *)consts[2] + oy, consts[3], consts[4],
                                   consts[5], (const int8_t *)x + b * img,
                                   (int8_t *)y + (b * c->oh + oy) * orow);
            u += k;
        }
        return;
    }
    case I8_OP_F32_BINARY: {
        i8_plan_f32_binary_params c = p->f32_binary;
        const int32_t ax = s->axis;
        const int64_t es = c.type == I8_F32_T_I64 ? 8 : c.type == I8_F32_T_U8 ? 1 : 4;
        const int64_t ys = c.op < I8_F32_EQUAL ? 4 : 1;
        int64_t inner = 1;
        for (int32_t i = ax + 1; i < c.s.ndim; i++) inner *= c.s.shape[i];
        c.s.shape[ax] = cnt;
        i8_f32_binary_run(c.op, c.type, &c.s, (const char *)x + u0 * c.a_stride[ax] * es,
                           c.a_stride, (const char *)x2 + u0 * c.b_stride[ax] * es, c.b_stride,
                           (char *)y + u0 * inner * ys);
        return;
    }
    case I8_OP_F32_UNARY: {
        const i8_plan_f32_unary_params *c = &p->f32_unary;
        const int64_t es = c->op == I8_F32_NOT ? 1 : 4;
        i8_f32_unary_run(c->op, cnt, (const char *)x + u0 * es, (char *)y + u0 * es, c->alpha,
                          c->beta);
        return;
    }
    case I8_OP_LAYERNORM: {
        const i8_plan_layernorm_params *c = &p->layernorm;
        i8_f32_layernorm_res(cnt, c->cols, (const float *)x + u0 * c->cols,
                          c->has_residual ? (const float *)x2 + u0 * c->cols : NULL, consts[0],
                          c->has_beta ? consts[1] : NULL, c->eps, (float *)y + u0 * c->cols,
                          scratch);
        return;
    }
    case I8_OP_F32_SOFTMAX:
        i8_f32_softmax_run(cnt, p->rows.cols, (const float *)x + u0 * p->rows.cols,
                            (float *)y + u0 * p->rows.cols);
        return;
    case I8_OP_MATMUL: {
        i8_plan_matmul_params c = p->matmul;
        if (s->axis < 0) {
            i8_f32_matmul_run(&c.batch, c.a_stride, c.b_stride, cnt, c.k, c.n,
                               (const float *)x + u0 * c.lda, c.lda, x2, c.ldb,
                               (float *)y + u0 * c.n);
            return;
        }
        const int32_t ax = s->axis;
        int64_t inner = c.m * c.n;
        for (int32_t i = ax + 1; i < c.batch.ndim; i++) inner *= c.batch.shape[i];
        c.batch.shape[ax] = cnt;
        i8_f32_matmul_run(&c.batch, c.a_stride, c.b_stride, c.m, c.k, c.n,
                           (const float *)x + u0 * c.a_stride[ax], c.lda,
                           (const float *)x2 + u0 * c.b_stride[ax], c.ldb, (float *)y + u0 * inner);
        return;
    }
    case I8_OP_DYNQ_MATMUL: {
        const i8_plan_dynq_params *c = &p->dynq;
        i8_dq_matmul_act(cnt, c->n, c->k, x2, c->has_bias ? consts[0] : NULL,
                        (const float *)x + u0 * c->k, 1, c->act, (float *)y + u0 * c->n, scratch);
        return;
    }
    case I8_OP_WO_MATMUL: {
        const i8_plan_wo_params *c = &p->wo;
        if (c->bits == 4)
            i8_w4_matmul(cnt, c->n, c->k, c->group, (const float *)x + u0 * c->k, x2,
                         c->has_bias ? consts[0] : NULL, (float *)y + u0 * c->n, scratch);
        else
            i8_wo_matmul_run(cnt, c->k, c->n, (const float *)x + u0 * c->k, x2, c->bits,
                             c->group, in[2], c->has_bias ? consts[0] : NULL,
                             (float *)y + u0 * c->n, scratch);
        return;
    }
    case I8_OP_STRIDED_COPY: {
        i8_plan_strided_copy_params c = p->strided_copy;
        const int32_t ax = s->axis;
        c.x_offset += u0 * c.x_stride[ax];
        c.y_offset += u0 * c.y_stride[ax];
        c.s.shape[ax] = cnt;
        i8_f32_strided_copy_run(&c.s, c.elem_size, x, c.x_offset, c.x_stride, y, c.y_offset,
                                 c.y_stride);
        return;
    }
    case I8_OP_ATTENTION:
        i8_f32_attention(&p->attention, u0, u1, x, x2, in[2], in[3], y, scratch);
        return;
    default: return; /* never split (tasks == 1): run by the whole-op path */
    }
}
