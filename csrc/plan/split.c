/* Splitting the non-gemm ops over threads: csrc/plan/split.h. */
#include "plan/split.h"

#include <string.h>

/* `units` slices of `work` elements each (double: a product of checked sizes, never needs to
 * be exact) */
static void by_work(i8_split *s, int64_t units, double work) {
    s->units = units > 0 ? units : 0;
    s->per = s->units > 0 ? s->units : 1;
    s->tasks = 1;
    if (units < 2 || work <= 0 || (double)units * work < 2.0 * I8_SPLIT_CHUNK) return;
    const double per = (double)I8_SPLIT_CHUNK / work;
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
    default: return; /* global_avgpool, transpose, slice, pad, copy: one task */
    }
}

void i8_split_run(int32_t kind, const i8_op_params *p, void *const *consts, const void *x,
                  const void *x2, void *y, const i8_split *s, int64_t u0, int64_t u1) {
    if (u1 > s->units) u1 = s->units;
    if (u0 >= u1) return;
    const int64_t cnt = u1 - u0;
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
            x_resize_nearest_run(1, c->h, c->w, c->c, (int32_t)k, c->ow,
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
    default: return; /* never split (tasks == 1): run by the whole-op path */
    }
}
