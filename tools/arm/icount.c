/* icount: a QEMU TCG plugin that counts executed guest instructions (the ARM speed proxy of
 * bench/arm_icount.py and docs/PLATFORMS.md).
 *
 *   gcc -O2 -shared -fPIC tools/arm/icount.c -o libicount.so
 *   qemu-aarch64 -cpu cortex-a72 -plugin ./libicount.so[,out=FILE][,blocks=on] -d plugin PROG
 *
 * At exit it prints "icount N" (N = guest instructions executed, all threads) to qemu's log
 * (-d plugin: stderr) and, with out=FILE, to FILE. blocks=on also writes one line per
 * translated block start address, "blk ADDR INSNS EXECUTED_INSNS" (hex address), so a run can
 * be split per kernel: bench/arm_icount.py maps the addresses onto the symbols of the loaded
 * native module (a block belongs to the function its first instruction is in). threads=on
 * counts per guest thread instead (qemu-user runs each guest thread as its own vCPU) and
 * writes "thread I N" lines: the balance of a multi-threaded run. It uses a callback per
 * executed block rather than an inline add (the v1 inline add cannot index by vCPU), so such
 * runs are slower; the counts are exact. threads=on with blocks=on keeps both: per block, a
 * count per guest thread (the first TSLOTS threads; "blkt ADDR INSNS C0 C1 ..."), so the
 * balance can be read over the kernels alone, without the pool's spin-waits.
 *
 * Only the v1 plugin API of QEMU 7.2 (Debian 12's dynamic qemu-aarch64; the -static build has
 * no plugin support): a translation callback that attaches an inline "add n_insns to a
 * counter" to every block, no per-instruction callbacks, so a counted run is only a little
 * slower than a plain one. The declarations below are the few API entry points used, written
 * from QEMU's documented plugin interface (docs/devel/tcg-plugins.rst); the plugin is built
 * without QEMU's headers, which Debian does not package.
 *
 * Counting is exact for one guest thread. With several, the inline adds race (non-atomic
 * read-modify-write from different vCPU threads); run counted benchmarks with one thread, or
 * read the per-thread balance from separate runs.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

extern void qemu_plugin_register_vcpu_tb_trans_cb(
    qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb));
extern void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb,
                                                     enum qemu_plugin_op op, void *ptr,
                                                     uint64_t imm);
extern void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb,
                                                 void (*cb)(unsigned int vcpu, void *userdata),
                                                 enum qemu_plugin_cb_flags flags,
                                                 void *userdata);
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
extern uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
extern void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id,
                                           void (*cb)(qemu_plugin_id_t id, void *userdata),
                                           void *userdata);
extern void qemu_plugin_outs(const char *string);

/* One counter per block start address. A block retranslated at the same address (same code,
 * or a different instruction count after an exit in the middle) shares the entry of that
 * address; its total is kept per entry as executed instructions, so sharing cannot mix up
 * counts. Entries are never freed or moved: the inline add holds their address. */
#define TSLOTS 16 /* per-thread block counts: threads beyond share the last slot */
typedef struct block {
    uint64_t addr, insns, count;
    uint64_t tcount[TSLOTS]; /* threads=on + blocks=on: executed insns per guest thread */
    struct block *next;
} block;

/* one translation of a block (threads=on + blocks=on): its entry and instruction count */
typedef struct {
    block *b;
    uint64_t n;
} translation;

#define HBITS 16
static block *table[1u << HBITS];
static uint64_t total;           /* used when blocks=off: one counter for everything */
static int per_block, per_thread;
#define MAX_THREADS 1024 /* vCPU indices beyond this share the last slot */
static uint64_t thread_count[MAX_THREADS]; /* each slot written by its own vCPU thread only */
static char out_path[4096];

static block *block_at(uint64_t addr, uint64_t insns) {
    const unsigned h = (unsigned)((addr >> 2) * 0x9E3779B97F4A7C15ull >> (64 - HBITS));
    for (block *b = table[h]; b; b = b->next)
        if (b->addr == addr) {
            if (insns > b->insns) b->insns = insns;
            return b;
        }
    block *b = calloc(1, sizeof *b);
    if (!b) abort(); /* a plugin cannot report an error mid-run; a wrong count is worse */
    b->addr = addr;
    b->insns = insns;
    b->next = table[h];
    table[h] = b;
    return b;
}

static void on_block(unsigned int vcpu, void *userdata) {
    thread_count[vcpu < MAX_THREADS ? vcpu : MAX_THREADS - 1] += (uint64_t)(uintptr_t)userdata;
}

static void on_block_thread(unsigned int vcpu, void *userdata) {
    const translation *t = userdata;
    t->b->tcount[vcpu < TSLOTS ? vcpu : TSLOTS - 1] += t->n;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    const uint64_t n = qemu_plugin_tb_n_insns(tb);
    if (per_thread && per_block) {
        translation *t = calloc(1, sizeof *t); /* lives as long as the translated block */
        if (!t) abort();
        t->b = block_at(qemu_plugin_tb_vaddr(tb), n);
        t->n = n;
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block_thread, QEMU_PLUGIN_CB_NO_REGS, t);
        return;
    }
    if (per_thread) {
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS,
                                             (void *)(uintptr_t)n);
        return;
    }
    uint64_t *ctr = per_block ? &block_at(qemu_plugin_tb_vaddr(tb), n)->count : &total;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, ctr, n);
}

static void at_exit(qemu_plugin_id_t id, void *userdata) {
    uint64_t sum = total;
    for (unsigned i = 0; i < MAX_THREADS; i++) sum += thread_count[i];
    if (per_block)
        for (unsigned h = 0; h < (1u << HBITS); h++)
            for (block *b = table[h]; b; b = b->next) {
                sum += b->count;
                for (unsigned i = 0; i < TSLOTS; i++) sum += b->tcount[i];
            }
    char line[64];
    snprintf(line, sizeof line, "icount %" PRIu64 "\n", sum);
    qemu_plugin_outs(line);
    if (!out_path[0]) return;
    FILE *f = fopen(out_path, "w");
    if (!f) {
        qemu_plugin_outs("icount: cannot open out= file\n");
        return;
    }
    fputs(line, f);
    if (per_block)
        for (unsigned h = 0; h < (1u << HBITS); h++)
            for (block *b = table[h]; b; b = b->next) {
                if (b->count)
                    fprintf(f, "blk %" PRIx64 " %" PRIu64 " %" PRIu64 "\n", b->addr, b->insns,
                            b->count);
                if (!per_thread) continue;
                uint64_t any = 0;
                for (unsigned i = 0; i < TSLOTS; i++) any |= b->tcount[i];
                if (!any) continue;
                fprintf(f, "blkt %" PRIx64 " %" PRIu64, b->addr, b->insns);
                for (unsigned i = 0; i < TSLOTS; i++) fprintf(f, " %" PRIu64, b->tcount[i]);
                fputc('\n', f);
            }
    for (unsigned i = 0; i < MAX_THREADS; i++)
        if (thread_count[i]) fprintf(f, "thread %u %" PRIu64 "\n", i, thread_count[i]);
    fclose(f);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
                                                               const qemu_info_t *info,
                                                               int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "out=", 4)) {
            snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
        } else if (!strcmp(argv[i], "blocks=on")) {
            per_block = 1;
        } else if (!strcmp(argv[i], "blocks=off")) {
            per_block = 0;
        } else if (!strcmp(argv[i], "threads=on")) {
            per_thread = 1;
        } else {
            fprintf(stderr, "icount: unknown argument '%s' (out=FILE, blocks=on|off, threads=on)\n",
                    argv[i]);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
