/* The W4A8 row kernel, written once over a primitive set (w4a8_x86.c: zmm / ymm intrinsics;
 * w4a8_emu.c: portable C emulations of the same primitives). Include with
 *   W4_FN     the function name,     W4_ATTR  its attributes (target ISA) or nothing,
 *   W4_P(x)   the primitive named x of the set,
 *   W4_L      int32 lanes per vector (16: one 16-channel block; 8: two halves of a block),
 *   W4_REP(X) X(r) for each row r of the tile (REP8 / REP4: W4_MR rows).
 * The primitives: loadb (4 * W4_L bytes), niblo / nibhi (the low / high nibbles of each
 * byte), subb (byte minus byte), loadi (W4_L int32), dot(acc, a, wl, wh) (acc plus, per
 * int32 lane, the 4 u8 activations a[0..3] times the 4 s8 bytes of wl and a[4..7] times wh),
 * fzero, facc(f, acc, s) (f + float(acc) * s, two roundings), store(y, f, sa, bias, left)
 * (y[c] = f * sa (+ bias[c]) for c < left). Layout of `packed`: w4a8.c. Rows past the end
 * repeat the last row (same inputs, same outputs written again). */

W4_ATTR void W4_FN(I8_W4_ROWS_ARGS) {
    const int64_t ng = k / group, nb = (n + 15) / 16, no = group / 8;
    const size_t gs = i8_w4_group_bytes(group);
    for (int64_t row0 = 0; row0 < rows; row0 += W4_MR) {
        const int64_t mr = rows - row0 < W4_MR ? rows - row0 : W4_MR;
#define W4_ROWP(r)                                                                            \
    const int64_t i##r = row0 + (r < mr ? r : mr - 1);                                        \
    const uint8_t *a##r = a + i##r * k;
        W4_REP(W4_ROWP)
        for (int64_t b = 0; b < nb; b++)
            for (int h = 0; h < 16 / W4_L; h++) {
                const int64_t j0 = b * 16 + h * W4_L;
                if (j0 >= n) break;
                /* half h: bytes / lanes [h * W4_L, (h + 1) * W4_L) of every 64-byte piece */
                const uint8_t *bp = (const uint8_t *)packed + (size_t)(b * ng) * gs + h * W4_L * 4;
#define W4_FZERO(r) W4_P(f) f##r = W4_P(fzero)();
                W4_REP(W4_FZERO)
                for (int64_t g = 0; g < ng; g++) {
                    const uint8_t *gp = bp + (size_t)g * gs;
                    const uint8_t *meta = gp + group * 8;
                    const W4_P(b) zb = W4_P(loadb)(meta);
                    const W4_P(i) corr = W4_P(loadi)(meta + 64);
#define W4_ACCI(r) W4_P(i) c##r = corr;
                    W4_REP(W4_ACCI)
                    const int64_t kg = g * group;
                    for (int64_t o = 0; o < no; o++) {
                        const W4_P(b) v = W4_P(loadb)(gp + o * 64);
                        const W4_P(b) wl = W4_P(subb)(W4_P(niblo)(v), zb);
                        const W4_P(b) wh = W4_P(subb)(W4_P(nibhi)(v), zb);
                        const int64_t kk = kg + o * 8;
#define W4_DOT(r) c##r = W4_P(dot)(c##r, a##r + kk, wl, wh);
                        W4_REP(W4_DOT)
                    }
                    const float *sc = (const float *)(meta + 128);
#define W4_FACC(r) f##r = W4_P(facc)(f##r, c##r, sc);
                    W4_REP(W4_FACC)
                }
                const int64_t left = n - j0 < W4_L ? n - j0 : W4_L;
#define W4_STORE(r) W4_P(store)(y + i##r * n + j0, f##r, sa[i##r], bias ? bias + j0 : NULL, left);
                W4_REP(W4_STORE)
#undef W4_STORE
#undef W4_FACC
#undef W4_DOT
#undef W4_ACCI
#undef W4_FZERO
#undef W4_ROWP
            }
    }
}
