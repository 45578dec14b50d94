/* Fully connected (i8_fc_*, kernels.h): one gemm panel over all n outputs; x rows are the
 * gemm's a rows directly; the scratch is the gemm's own (prepared rows, gemm.h). Packed stream
 * = the gemm panel (gemm.h). */
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/split.h"

size_t i8_fc_packed_size(const i8_fc_params *p) { return i8_gemm_packed_size(p->n, p->k); }

void i8_fc_pack(const i8_fc_params *p, const int8_t *w, const int32_t *bias, const float *mult,
                void *packed) {
    i8_gemm_pack(p->n, p->k, w, (size_t)p->k, bias, mult, p->x_zp, packed);
}

size_t i8_fc_scratch_size(const i8_fc_params *p) {
    return i8_gemm_scratch_size((size_t)p->m, p->k);
}

void i8_fc_run_post(const i8_fc_params *p, const void *packed, const int8_t *x, void *y,
                    void *scratch, const int8_t *table, const int8_t *res) {
    i8_post post;
    i8_gemm_panel pn;
    i8_gemm_panel_init(&pn, p->n, p->k, packed, p->y_zp, p->qmin, p->qmax, p->out_f32);
    pn.scratch = scratch;
    pn.scratch_bytes = i8_fc_scratch_size(p);
    pn.post = p->out_f32 ? NULL : i8_post_init(&post, &p->post, table, res, y);
    i8_gemm(&pn, (size_t)p->m, x, (size_t)p->k, y, (size_t)p->n);
}

void i8_fc_run(const i8_fc_params *p, const void *packed, const int8_t *x, void *y,
               void *scratch) {
    i8_fc_run_post(p, packed, x, y, scratch, NULL, NULL);
}

/* Work split (kernels.h): row blocks when m is large, output-channel blocks when it is small
 * (m = 1 classifier: each thread reads its part of the weights); kernels/gemm/split.h. */
size_t i8_fc_tasks(const i8_fc_params *p) {
    i8_gemm_split s;
    i8_gemm_split_init(&s, (size_t)p->m, (size_t)p->n, (size_t)p->k, 1, 1);
    return i8_gemm_split_tasks(&s);
}

void i8_fc_run_tasks(const i8_fc_params *p, const void *packed, const int8_t *x, void *y,
                     void *scratch, size_t t0, size_t t1) {
    i8_fc_run_tasks_post(p, packed, x, y, scratch, t0, t1, NULL, NULL);
}

void i8_fc_run_tasks_post(const i8_fc_params *p, const void *packed, const int8_t *x, void *y,
                          void *scratch, size_t t0, size_t t1, const int8_t *table,
                          const int8_t *res) {
    i8_post post;
    i8_gemm_split s;
    i8_gemm_split_init(&s, (size_t)p->m, (size_t)p->n, (size_t)p->k, 1, 1);
    const size_t tasks = i8_gemm_split_tasks(&s), esz = p->out_f32 ? sizeof(float) : 1;
    if (t1 > tasks) t1 = tasks;
    i8_gemm_panel pn;
    i8_gemm_panel_init(&pn, p->n, p->k, packed, p->y_zp, p->qmin, p->qmax, p->out_f32);
    pn.scratch = scratch; /* the gemm's prepared row blocks, as i8_fc_run sets it */
    pn.scratch_bytes = i8_fc_scratch_size(p);
    pn.post = p->out_f32 ? NULL : i8_post_init(&post, &p->post, table, res, y);
    unsigned char *yb = y;
    size_t t = t0;
    while (t < t1) {
        /* consecutive channel blocks of one row block run as one gemm */
        size_t r0, r1, g, j0, j1;
        i8_gemm_split_task(&s, t, &r0, &r1, &g, &j0, &j1);
        const size_t ci = t % s.ch_tasks;
        const size_t ce = ci + (t1 - t) < s.ch_tasks ? ci + (t1 - t) : s.ch_tasks;
        j1 = ce * s.chans < s.n ? ce * s.chans : s.n;
        t += ce - ci;
        const i8_gemm_panel sub = i8_gemm_panel_cols(&pn, j0, j1);
        i8_gemm(&sub, r1 - r0, x + r0 * (size_t)p->k, (size_t)p->k,
                yb + (r0 * (size_t)p->n + j0) * esz, (size_t)p->n);
    }
}
