/* Fully connected (i8_fc_*, kernels.h): one gemm panel over all n outputs; x rows are the
 * gemm's a rows directly; the scratch is the gemm's own (int16 rows, gemm.h). Packed stream = the gemm panel (gemm.h). */
#include "kernels/gemm/gemm.h"

size_t i8_fc_packed_size(const i8_fc_params *p) { return i8_gemm_packed_size(p->n, p->k); }

void i8_fc_pack(const i8_fc_params *p, const int8_t *w, const int32_t *bias, const float *mult,
                void *packed) {
    i8_gemm_pack(p->n, p->k, w, (size_t)p->k, bias, mult, p->x_zp, packed);
}

size_t i8_fc_scratch_size(const i8_fc_params *p) {
    return i8_gemm_scratch_size((size_t)p->m, p->k);
}

void i8_fc_run(const i8_fc_params *p, const void *packed, const int8_t *x, void *y,
               void *scratch) {
    i8_gemm_panel pn;
    i8_gemm_panel_init(&pn, p->n, p->k, packed, p->y_zp, p->qmin, p->qmax, p->out_f32);
    pn.scratch = scratch;
    pn.scratch_bytes = i8_fc_scratch_size(p);
    i8_gemm(&pn, (size_t)p->m, x, (size_t)p->k, y, (size_t)p->n);
}

/* Not split yet: one task is the whole run. */
size_t i8_fc_tasks(const i8_fc_params *p) { return 1; }

void i8_fc_run_tasks(const i8_fc_params *p, const void *packed, const int8_t *x, void *y,
                     void *scratch, size_t t0, size_t t1) {
    if (t0 == 0 && t1 > 0) i8_fc_run(p, packed, x, y, scratch);
}
