/* conv_layers: the non-depthwise convolutions and the classifier of MobileNetV2-224 and
 * ResNet-18-224 (the gemm side of bench/arm_icount.py's models), run through i8_conv2d_run /
 * i8_fc_run on seeded data, for kernel-level instruction counts under qemu without the arm64
 * rootfs (bench/arm_gemm_icount.py):
 *
 *   conv_layers MODEL LAYER REPS [tasks]   run layer LAYER (-1: every layer) REPS times after
 *                                          packing; `tasks`: each run as its thread-split tasks
 *                                          one at a time (*_run_tasks(t, t + 1): what the thread
 *                                          pool's single-task claims execute, summed over the
 *                                          threads)
 *   conv_layers MODEL list           print the layers: index, shape, MACs
 *
 * Instructions per run of a layer = (count(REPS = 1 + r) - count(REPS = 1)) / r, the setup
 * (allocation, random data, packing) identical in both. The path is the dispatcher's
 * (INT8RT_ISA caps it). Weights in [-127, 127], activations and zero points arbitrary: the
 * counts do not depend on the values, only on the shapes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "int8rt/cpu.h"
#include "int8rt/kernels.h"

typedef struct {
    int h, c, oc, k, s; /* square input h x h x c, k x k kernel, stride s (pad k / 2); k 0: fc */
} layer;

static int add(layer *l, int n, int h, int c, int oc, int k, int s) {
    l[n] = (layer){h, c, oc, k, s};
    return n + 1;
}

/* MobileNetV2 (Sandler et al. 2018, Table 2): stem, then per inverted residual block the 1x1
 * expansion (t > 1) and the 1x1 projection (the 3x3 depthwise between them is not gemm), the
 * last 1x1 to 1280 and the classifier. */
static int mobilenet_v2(layer *l) {
    static const int cfg[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                  {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    int n = add(l, 0, 224, 3, 32, 3, 2), h = 112, c = 32;
    for (int b = 0; b < 7; b++)
        for (int i = 0; i < cfg[b][2]; i++) {
            const int t = cfg[b][0], s = i == 0 ? cfg[b][3] : 1;
            if (t > 1) n = add(l, n, h, c, c * t, 1, 1);
            h = (h + s - 1) / s; /* the depthwise conv strides */
            n = add(l, n, h, c * t, cfg[b][1], 1, 1);
            c = cfg[b][1];
        }
    n = add(l, n, h, c, 1280, 1, 1);
    return add(l, n, 1, 1280, 1000, 0, 1);
}

/* ResNet-18 (He et al. 2016): 7x7/2 stem, (max pool), 4 stages of 2 basic blocks of two 3x3
 * convolutions, a 1x1/2 projection at the start of stages 2-4, the classifier. */
static int resnet18(layer *l) {
    int n = add(l, 0, 224, 3, 64, 7, 2), h = 56, c = 64;
    for (int st = 0; st < 4; st++) {
        const int oc = 64 << st;
        for (int b = 0; b < 2; b++) {
            const int s = st > 0 && b == 0 ? 2 : 1;
            n = add(l, n, h, c, oc, 3, s);
            if (s == 2) n = add(l, n, h, c, oc, 1, 2);
            h = (h + s - 1) / s;
            n = add(l, n, h, oc, oc, 3, 1);
            c = oc;
        }
    }
    return add(l, n, 1, 512, 1000, 0, 1);
}

static uint32_t rng = 12345;
static int8_t rnd(int lo, int hi) {
    rng = rng * 1664525u + 1013904223u;
    return (int8_t)(lo + (int)((rng >> 8) % (uint32_t)(hi - lo + 1)));
}

static void *alloc(size_t n) {
    void *p = aligned_alloc(64, (n + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static int by_tasks; /* run each task on its own (the split's total work) */

static void run_layer(const layer *L, int reps) {
    const int oh = L->k ? (L->h + L->s - 1) / L->s : 1;
    const size_t kk = L->k ? (size_t)L->k * L->k : 1;
    const size_t xin = (size_t)L->h * L->h * L->c, yout = (size_t)oh * oh * L->oc;
    int8_t *x = alloc(xin), *w = alloc((size_t)L->oc * kk * L->c), *y = alloc(yout);
    int32_t *bias = alloc(sizeof(int32_t) * L->oc);
    float *mult = alloc(sizeof(float) * L->oc);
    for (size_t i = 0; i < xin; i++) x[i] = rnd(-128, 127);
    for (size_t i = 0; i < (size_t)L->oc * kk * L->c; i++) w[i] = rnd(-127, 127);
    for (int i = 0; i < L->oc; i++) {
        bias[i] = rnd(-128, 127) * 64;
        mult[i] = 1.0f / 4096.0f;
    }
    if (!L->k) {
        const i8_fc_params p = {1, L->c, L->oc, 3, -2, -128, 127, 0};
        void *pk = alloc(i8_fc_packed_size(&p)), *scr = alloc(i8_fc_scratch_size(&p) + 64);
        i8_fc_pack(&p, w, bias, mult, pk);
        const size_t nt = i8_fc_tasks(&p);
        for (int r = 0; r < reps; r++)
            if (by_tasks)
                for (size_t t = 0; t < nt; t++) i8_fc_run_tasks(&p, pk, x, y, scr, t, t + 1);
            else
                i8_fc_run(&p, pk, x, y, scr);
        free(pk);
        free(scr);
    } else {
        const int pad = L->k / 2;
        i8_conv2d_params p;
        memset(&p, 0, sizeof p);
        p.n = 1, p.h = p.w = L->h, p.c = L->c, p.oh = p.ow = oh, p.oc = L->oc;
        p.kh = p.kw = L->k, p.stride_h = p.stride_w = L->s, p.dil_h = p.dil_w = 1;
        p.pad_t = p.pad_l = pad;
        /* bottom / right padding that makes oh = ceil(h / s) with pad k / 2 on top */
        p.pad_b = p.pad_r = (oh - 1) * L->s + L->k - L->h - pad < 0
                                ? 0 : (oh - 1) * L->s + L->k - L->h - pad;
        p.groups = 1, p.x_zp = 3, p.y_zp = -2, p.qmin = -128, p.qmax = 127;
        void *pk = alloc(i8_conv2d_packed_size(&p)), *scr = alloc(i8_conv2d_scratch_size(&p) + 64);
        i8_conv2d_pack(&p, w, bias, mult, pk);
        const size_t nt = i8_conv2d_tasks(&p);
        for (int r = 0; r < reps; r++)
            if (by_tasks)
                for (size_t t = 0; t < nt; t++) i8_conv2d_run_tasks(&p, pk, x, y, scr, t, t + 1);
            else
                i8_conv2d_run(&p, pk, x, y, scr);
        free(pk);
        free(scr);
    }
    free(x), free(w), free(y), free(bias), free(mult);
}

int main(int argc, char **argv) {
    layer l[64];
    if (argc < 3) {
        fprintf(stderr, "usage: %s mobilenet_v2|resnet18 LAYER REPS [tasks] | list\n", argv[0]);
        return 2;
    }
    const int n = !strcmp(argv[1], "resnet18") ? resnet18(l) : mobilenet_v2(l);
    i8_isa_init();
    if (!strcmp(argv[2], "list")) {
        printf("path %s\n", i8_isa_name(i8_isa_current()));
        for (int i = 0; i < n; i++) {
            const int oh = l[i].k ? (l[i].h + l[i].s - 1) / l[i].s : 1;
            const double macs = (double)oh * oh * l[i].oc * l[i].c * (l[i].k ? l[i].k * l[i].k : 1);
            printf("%d %dx%dx%d k%d s%d -> %d %.0f\n", i, l[i].h, l[i].h, l[i].c, l[i].k, l[i].s,
                   l[i].oc, macs);
        }
        return 0;
    }
    const int which = atoi(argv[2]), reps = argc > 3 ? atoi(argv[3]) : 1;
    by_tasks = argc > 4 && !strcmp(argv[4], "tasks");
    for (int i = 0; i < n; i++)
        if (which < 0 || which == i) run_layer(&l[i], reps);
    return 0;
}
