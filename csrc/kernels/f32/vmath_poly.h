/* The exp and erf-GELU polynomials of vmath_avx2.c and vmath_avx512.c, written once over the
 * vector width. The including file defines the vector type VEC, its integer twin VECI, the
 * mask type LIVE of a comparison, the target attribute ATTR, the operations V_* below and the
 * names EXP_FN / GELU_FN. Both widths run the same operations in the same order (no FMA), so
 * a lane of the 16-wide functions is bit-identical to the same lane of the 8-wide ones.
 *
 * exp: the Cephes expf polynomial after a ln 2 range reduction (relative error about 2e-7);
 * erf: Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7). */
#ifndef VEC
#error "define VEC and the V_* operations before including vmath_poly.h"
#endif

ATTR static inline __attribute__((always_inline)) VEC EXP_FN(VEC x) {
    /* below -87.3 the result is 0 (exp would be subnormal): -inf and masked scores give 0 */
    const LIVE live = V_GE(x, V_SET1(-87.3f));
    x = V_MIN(V_MAX(x, V_SET1(-87.3f)), V_SET1(88.3f));
    const VEC n = V_ROUND(V_MUL(x, V_SET1(1.44269504088896341f)));
    VEC r = V_SUB(x, V_MUL(n, V_SET1(0.693359375f)));
    r = V_SUB(r, V_MUL(n, V_SET1(-2.12194440e-4f)));
    VEC p = V_SET1(1.9875691500e-4f);
    p = V_ADD(V_MUL(p, r), V_SET1(1.3981999507e-3f));
    p = V_ADD(V_MUL(p, r), V_SET1(8.3334519073e-3f));
    p = V_ADD(V_MUL(p, r), V_SET1(4.1665795894e-2f));
    p = V_ADD(V_MUL(p, r), V_SET1(1.6666665459e-1f));
    p = V_ADD(V_MUL(p, r), V_SET1(5.0000001201e-1f));
    p = V_ADD(V_MUL(V_MUL(p, r), r), V_ADD(r, V_SET1(1.0f)));
    /* 2^n by building the exponent field: n in [-126, 127] after the clamp */
    const VECI e = VI_SLLI23(VI_ADD(V_CVT(n), VI_SET1(127)));
    return V_KEEP(live, V_MUL(p, VI_AS_F(e)));
}

ATTR static VEC GELU_FN(VEC x) {
    const VEC sign = V_SET1(-0.0f);
    const VEC z = V_MUL(x, V_SET1(0.70710678118654752f));
    const VEC az = V_ANDNOT(sign, z);
    const VEC t = V_DIV(V_SET1(1.0f), V_ADD(V_SET1(1.0f), V_MUL(V_SET1(0.3275911f), az)));
    VEC p = V_SET1(1.061405429f);
    p = V_ADD(V_MUL(p, t), V_SET1(-1.453152027f));
    p = V_ADD(V_MUL(p, t), V_SET1(1.421413741f));
    p = V_ADD(V_MUL(p, t), V_SET1(-0.284496736f));
    p = V_ADD(V_MUL(p, t), V_SET1(0.254829592f));
    p = V_MUL(p, t);
    const VEC e = EXP_FN(V_SUB(V_ZERO(), V_MUL(az, az)));
    VEC erf = V_SUB(V_SET1(1.0f), V_MUL(p, e));
    erf = V_OR(erf, V_AND(z, sign)); /* erf is odd */
    return V_MUL(V_MUL(x, V_SET1(0.5f)), V_ADD(V_SET1(1.0f), erf));
}
