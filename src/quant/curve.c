/*
 * curve.c — the transfer curves of curve.h: ST 2084 (PQ), BT.2100 HLG, PU21, gamma, mu-law.
 *
 * The reference functions are the published formulas as written. The normalized curves
 * are the same formulas rearranged so nothing subtracts nearly equal numbers: for a curve
 * of the form f(x) = r(x)^m with a rational r, the difference f(x) - f(x0) is computed as
 * r(x0)^m * expm1(m log1p((r(x) - r(x0)) / r(x0))), where r(x) - r(x0) is simplified by
 * hand so it is a product of positive factors. The common factor r(x0)^m cancels in the
 * normalizing ratio, and every step inverts in closed form with the same functions, which
 * keeps forward and inverse accurate near t = 0 and for tiny peak luminances, where the
 * textbook "(PQ(t L) - PQ(0)) / (PQ(L) - PQ(0))" loses all its digits.
 *
 * PU21 parameters: the brief this file was written from listed banding_glare as
 * p4 = 0.09222304034, p5 = 0.0, which maps 100 cd/m^2 to 800.8 PU units. The authors'
 * reference code (github.com/gfxdisp/pu21, matlab/pu21_encoder.m, "parameters were updated
 * on 06/02/2020", and pytorch/pu21_encoder.py) has p4 = 0.09150303166, p5 = 0.9099517204,
 * which give the published 256.38 at 100 cd/m^2; those are used here.
 */
#include "curve.h"

#include <math.h>
#include <string.h>

#include "core.h"

/* SMPTE ST 2084 constants, exact binary fractions as the standard defines them. */
#define PQ_M1 (2610.0 / 16384.0)
#define PQ_M2 (2523.0 / 4096.0 * 128.0)
#define PQ_C1 (3424.0 / 4096.0)
#define PQ_C2 (2413.0 / 4096.0 * 32.0)
#define PQ_C3 (2392.0 / 4096.0 * 32.0)
#define PQ_LMAX 10000.0
/* r(u) - c1 = u (c2 - c1 c3) / (1 + c3 u), with u = (L / 10000)^m1. */
#define PQ_K (PQ_C2 - PQ_C1 * PQ_C3)

/* ITU-R BT.2100 HLG constants. */
#define HLG_A 0.17883277
#define HLG_B (1.0 - 4.0 * HLG_A)

/* PU21 banding_glare, from the authors' reference code (see the file comment). */
static const double pu21_p[7] = {0.353487901,    0.3734658629, 8.277049286e-05, 0.9062562627,
                                 0.09150303166,  0.9099517204, 596.3148142};
#define PU21_LMIN 0.005
#define PU21_LMAX 10000.0

#define GAMMA_MIN 0.05
#define GAMMA_MAX 100.0
#define MU_MIN 1e-6
#define MU_MAX 1e12

/* [0, 1]; NaN goes to 0. */
static double clamp01(double t) {
    if (!(t > 0)) return 0;
    return t < 1 ? t : 1;
}

static double clamp_range(double x, double lo, double hi) {
    if (!(x > lo)) return lo;
    return x < hi ? x : hi;
}

/* ---- reference functions ---- */

double qc_st2084_inv_eotf(double L) {
    double u = pow(clamp_range(L, 0, PQ_LMAX) / PQ_LMAX, PQ_M1);
    return pow((PQ_C1 + PQ_C2 * u) / (1 + PQ_C3 * u), PQ_M2);
}

double qc_st2084_eotf(double E) {
    double r = pow(clamp01(E), 1 / PQ_M2);
    double num = r - PQ_C1;
    if (num <= 0) return 0;
    return PQ_LMAX * pow(num / (PQ_C2 - PQ_C3 * r), 1 / PQ_M1);
}

static double hlg_c(void) { return 0.5 - HLG_A * log(4 * HLG_A); }

double qc_hlg_oetf(double E) {
    E = clamp01(E);
    if (E <= 1.0 / 12.0) return sqrt(3 * E);
    return HLG_A * log(12 * E - HLG_B) + hlg_c();
}

double qc_hlg_inv_oetf(double Ep) {
    Ep = clamp01(Ep);
    if (Ep <= 0.5) return Ep * Ep / 3;
    return clamp01((exp((Ep - hlg_c()) / HLG_A) + HLG_B) / 12);
}

double qc_pu21_encode(double L) {
    const double *p = pu21_p;
    double x = pow(clamp_range(L, PU21_LMIN, PU21_LMAX), p[3]);
    return p[6] * (pow((p[0] + p[1] * x) / (1 + p[2] * x), p[4]) - p[5]);
}

double qc_pu21_decode(double V) {
    const double *p = pu21_p;
    double base = V / p[6] + p[5];
    if (!(base > 0)) return PU21_LMIN;
    double r = pow(base, 1 / p[4]);
    double num = r - p[0], den = p[1] - p[2] * r;
    if (num <= 0) return PU21_LMIN;
    if (den <= 0) return PU21_LMAX;
    return clamp_range(pow(num / den, 1 / p[3]), PU21_LMIN, PU21_LMAX);
}

/* ---- ST 2084 normalized: u = up t^m1, D(u) = (r(u) / c1)^m2 - 1, forward = D(u) / D(up) ---- */

static double pq_d(double u) {
    double q = u * PQ_K / (PQ_C1 * (1 + PQ_C3 * u)); /* (r(u) - c1) / c1 */
    return expm1(PQ_M2 * log1p(q));
}

static double pq_forward(const qc_curve *c, double t) {
    return pq_d(c->k0 * pow(t, PQ_M1)) / c->k1;
}

static double pq_inverse(const qc_curve *c, double y) {
    double q = expm1(log1p(y * c->k1) / PQ_M2);
    double u = q * PQ_C1 / (PQ_K - q * PQ_C1 * PQ_C3);
    return pow(u / c->k0, 1 / PQ_M1);
}

/* ---- PU21 normalized: with x = L^p3, x0 = 0.005^p3, r(x) = (p0 + p1 x) / (1 + p2 x),
 * r(x) - r(x0) = (p1 - p0 p2)(x - x0) / ((1 + p2 x)(1 + p2 x0)) and
 * D = (r / r0)^p4 - 1; forward = D(t) / D(1). k0 = L_peak - 0.005, k1 = D(1). ---- */

typedef struct pu21_base {
    double x0, r0, g0, k; /* x0 = 0.005^p3, r0 = r(x0), g0 = 1 + p2 x0, k = p1 - p0 p2 */
} pu21_base;

static pu21_base pu21_base_get(void) {
    const double *p = pu21_p;
    pu21_base b;
    b.x0 = pow(PU21_LMIN, p[3]);
    b.g0 = 1 + p[2] * b.x0;
    b.r0 = (p[0] + p[1] * b.x0) / b.g0;
    b.k = p[1] - p[0] * p[2];
    return b;
}

/* D as a function of dL = L - 0.005 >= 0. */
static double pu21_d(const pu21_base *b, double dL) {
    const double *p = pu21_p;
    double dx = b->x0 * expm1(p[3] * log1p(dL / PU21_LMIN));
    double dr = b->k * dx / ((b->g0 + p[2] * dx) * b->g0);
    return expm1(p[4] * log1p(dr / b->r0));
}

static double pu21_forward(const qc_curve *c, double t) {
    pu21_base b = pu21_base_get();
    return pu21_d(&b, t * c->k0) / c->k1;
}

static double pu21_inverse(const qc_curve *c, double y) {
    const double *p = pu21_p;
    pu21_base b = pu21_base_get();
    double dr = b.r0 * expm1(log1p(y * c->k1) / p[4]);
    double den = b.k - dr * p[2] * b.g0;
    if (den <= 0) return 1;
    double dx = dr * b.g0 * b.g0 / den;
    double dL = PU21_LMIN * expm1(log1p(dx / b.x0) / p[3]);
    return dL / c->k0;
}

/* ---- the normalized interface ---- */

static const char *const kind_names[QC_KINDS] = {"none", "st2084", "hlg", "pu21", "gamma", "mulaw"};

const char *qc_name(qc_kind k) {
    return (unsigned)k < QC_KINDS ? kind_names[k] : "unknown";
}

hk_status qc_parse(const char *s, qc_kind *out) {
    for (int k = 0; s != NULL && k < QC_KINDS; k++) {
        if (strcmp(s, kind_names[k]) == 0) {
            *out = (qc_kind)k;
            return HK_OK;
        }
    }
    return hk_fail(HK_INVALID, "unknown transfer curve \"%s\" (expected none, st2084, hlg, pu21, gamma or mulaw)",
                   s ? s : "(null)");
}

double qc_default_param(qc_kind k) {
    switch (k) {
    case QC_ST2084:
    case QC_PU21: return 10000.0;
    case QC_GAMMA: return 2.2;
    case QC_MULAW: return 255.0;
    default: return 0;
    }
}

/* 1 when lo < v <= hi (lo_open) or lo <= v <= hi; NaN and infinities fail. */
static int in_range(double v, double lo, double hi, int lo_open) {
    if (!isfinite(v)) return 0;
    return (lo_open ? v > lo : v >= lo) && v <= hi;
}

hk_status qc_init(qc_curve *c, qc_kind kind, double param) {
    if (c == NULL) return hk_fail(HK_INVALID, "qc_init: curve is NULL");
    if ((unsigned)kind >= QC_KINDS) {
        return hk_fail(HK_INVALID,
                       "unknown transfer curve kind %d (expected 0..%d: none, st2084, hlg, pu21, gamma, mulaw)",
                       (int)kind, QC_KINDS - 1);
    }
    qc_curve n = {kind, 0, 0, 0};
    if (kind == QC_NONE || kind == QC_HLG) {
        if (kind == QC_HLG) n.k1 = qc_hlg_oetf(1);
        *c = n;
        return HK_OK;
    }
    n.param = param == 0 ? qc_default_param(kind) : param;
    switch (kind) {
    case QC_ST2084:
        if (!in_range(n.param, 0, PQ_LMAX, 1)) {
            return hk_fail(HK_INVALID, "st2084 peak luminance %g is out of range (0, 10000] cd/m^2 (0 selects 10000)",
                           param);
        }
        n.k0 = pow(n.param, PQ_M1) / pow(PQ_LMAX, PQ_M1);
        n.k1 = pq_d(n.k0);
        break;
    case QC_PU21: {
        if (!in_range(n.param, PU21_LMIN, PU21_LMAX, 1)) {
            return hk_fail(HK_INVALID, "pu21 peak luminance %g is out of range (0.005, 10000] cd/m^2 (0 selects 10000)",
                           param);
        }
        pu21_base b = pu21_base_get();
        n.k0 = n.param - PU21_LMIN;
        n.k1 = pu21_d(&b, n.k0);
        break;
    }
    case QC_GAMMA:
        if (!in_range(n.param, GAMMA_MIN, GAMMA_MAX, 0)) {
            return hk_fail(HK_INVALID, "gamma %g is out of range [%g, %g] (0 selects %g)", param, GAMMA_MIN, GAMMA_MAX,
                           qc_default_param(kind));
        }
        break;
    case QC_MULAW:
        if (!in_range(n.param, MU_MIN, MU_MAX, 0)) {
            return hk_fail(HK_INVALID, "mulaw mu %g is out of range [%g, %g] (0 selects %g)", param, MU_MIN, MU_MAX,
                           qc_default_param(kind));
        }
        n.k1 = log1p(n.param);
        break;
    default: break;
    }
    *c = n;
    return HK_OK;
}

double qc_forward(const qc_curve *c, double t) {
    t = clamp01(t);
    if (t == 0 || t == 1) return t;
    double y;
    switch (c->kind) {
    case QC_ST2084: y = pq_forward(c, t); break;
    case QC_HLG: y = qc_hlg_oetf(t) / c->k1; break;
    case QC_PU21: y = pu21_forward(c, t); break;
    case QC_GAMMA: y = pow(t, 1 / c->param); break;
    case QC_MULAW: y = log1p(c->param * t) / c->k1; break;
    default: y = t; break;
    }
    return clamp01(y);
}

double qc_inverse(const qc_curve *c, double y) {
    y = clamp01(y);
    if (y == 0 || y == 1) return y;
    double t;
    switch (c->kind) {
    case QC_ST2084: t = pq_inverse(c, y); break;
    case QC_HLG: t = qc_hlg_inv_oetf(y * c->k1); break;
    case QC_PU21: t = pu21_inverse(c, y); break;
    case QC_GAMMA: t = pow(y, c->param); break;
    case QC_MULAW: t = expm1(y * c->k1) / c->param; break;
    default: t = y; break;
    }
    return clamp01(t);
}
