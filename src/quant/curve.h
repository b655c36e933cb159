/*
 * curve.h — transfer curves for perceptual companding of embedding components.
 *
 * A scalar quantizer spends its levels evenly over its range. Embedding components are
 * signed and crowd around zero, so a uniform grid wastes levels on the rare large values.
 * Companding fixes that: the caller maps a component u to t = |u| in [0, 1] (after scaling
 * by the range), keeps the sign apart, quantizes y = qc_forward(t) uniformly and decodes
 * with qc_inverse. Because every curve here is concave on [0, 1], small |u| get more
 * levels than large ones. The sign handling and scaling belong to the caller, not here.
 *
 * The curves are the display-industry and vision-science ones (SMPTE ST 2084 "PQ",
 * ITU-R BT.2100 HLG, PU21 of Mantiuk & Azimi 2021) plus plain gamma and mu-law, each
 * rescaled to map [0, 1] onto [0, 1]. The reference functions on their published domains
 * are exported too, so tests can check them against the standards' numbers.
 *
 * Decisions:
 *  - Normalized curves are evaluated as ratios of differences written with log1p/expm1
 *    (no "PQ(x) - PQ(0)" subtraction of nearly equal numbers), so forward and inverse stay
 *    accurate to ~1e-15 near 0 and for any peak luminance, and never take pow of a negative.
 *  - Parameters are limited to ranges where the stated guarantees (strictly increasing,
 *    inverse within 1e-9) hold in double precision: see qc_init.
 *  - Everything is a pure function of its arguments and the qc_curve value: no globals,
 *    safe from any number of threads.
 */
#ifndef HK_QUANT_CURVE_H
#define HK_QUANT_CURVE_H

#include "hektor.h"

typedef enum qc_kind { QC_NONE = 0, QC_ST2084 = 1, QC_HLG = 2, QC_PU21 = 3, QC_GAMMA = 4, QC_MULAW = 5 } qc_kind;
#define QC_KINDS 6

/* ---- reference functions on their own published domains (double precision) ----
 * Inputs outside the domain are clamped to it (NaN counts as the domain's low end). */

/* SMPTE ST 2084 inverse EOTF: absolute luminance in cd/m^2, [0, 10000] -> signal [0, 1].
 * inv_eotf(0) = c1^m2 (about 7.3e-7), inv_eotf(10000) = 1 exactly. */
double qc_st2084_inv_eotf(double L);
/* Its exact inverse, the ST 2084 EOTF: signal [0, 1] -> cd/m^2 (signals below c1^m2 give 0). */
double qc_st2084_eotf(double E);
/* ITU-R BT.2100 HLG OETF: scene linear [0, 1] -> [0, 1]: sqrt(3E) up to E = 1/12, then
 * a ln(12E - b) + c with a = 0.17883277, b = 1 - 4a, c = 0.5 - a ln(4a). With the published
 * (rounded) a, oetf(1) = 0.99999999507, not exactly 1. */
double qc_hlg_oetf(double E);
/* Its inverse: [0, 1] -> scene linear [0, 1]. */
double qc_hlg_inv_oetf(double Ep);
/* PU21 (Mantiuk & Azimi 2021), banding_glare parameters: cd/m^2 in [0.005, 10000] -> PU
 * units (100 cd/m^2 -> 256.3839, 0.005 -> about 5e-10, 10000 -> 595.3939). */
double qc_pu21_encode(double L);
/* Its inverse (closed form): PU units -> cd/m^2 in [0.005, 10000]. */
double qc_pu21_decode(double V);

/* ---- companding curves normalized to the unit interval ----
 * qc_forward maps t in [0, 1] to [0, 1], strictly increasing and continuous, forward(0) = 0
 * and forward(1) = 1 exactly; qc_inverse is its inverse to within 1e-9 over the whole
 * interval. Inputs outside [0, 1] are clamped (NaN is treated as 0), so results are always
 * in [0, 1]. */
typedef struct qc_curve {
    qc_kind kind;
    double param; /* the curve's parameter after defaults were applied */
    double k0, k1; /* private normalization constants (e.g. curve value at the ends) */
} qc_curve;

/* Fills *c. param 0 means the kind's default (qc_default_param). Meaning per kind:
 *   QC_NONE:   identity; param ignored (stays 0).
 *   QC_ST2084: peak luminance L_peak in cd/m^2 that t = 1 maps to, (0, 10000], default
 *              10000: forward(t) = (PQ(t L_peak) - PQ(0)) / (PQ(L_peak) - PQ(0)), PQ being
 *              qc_st2084_inv_eotf.
 *   QC_HLG:    param ignored (stays 0): forward(t) = hlg_oetf(t) / hlg_oetf(1). The division
 *              (a factor 1 + 4.9e-9) makes the curve end at exactly 1 without a jump.
 *   QC_PU21:   peak luminance in (0.005, 10000], default 10000; t maps to
 *              L = 0.005 + t (L_peak - 0.005), forward = (PU(L) - PU(0.005)) /
 *              (PU(L_peak) - PU(0.005)).
 *   QC_GAMMA:  gamma in [0.05, 100], default 2.2: forward(t) = t^(1/gamma).
 *   QC_MULAW:  mu in [1e-6, 1e12], default 255: forward(t) = ln(1 + mu t) / ln(1 + mu).
 * The gamma and mu bounds are where double precision still gives a strictly increasing
 * curve with a 1e-9 inverse. Returns HK_INVALID (message names the kind and the allowed
 * range) for an unknown kind, a NaN/infinite param or one out of range; *c is then left
 * as it was. */
hk_status qc_init(qc_curve *c, qc_kind kind, double param);
/* The normalized curve at t (clamped to [0, 1]). */
double qc_forward(const qc_curve *c, double t);
/* Its inverse at y (clamped to [0, 1]). */
double qc_inverse(const qc_curve *c, double y);
/* "none", "st2084", "hlg", "pu21", "gamma", "mulaw"; "unknown" for any other value. */
const char *qc_name(qc_kind k);
/* Parses one of the qc_name names (exact, lower case) into *out; HK_INVALID naming the
 * accepted list otherwise (also for NULL). */
hk_status qc_parse(const char *s, qc_kind *out);
/* The default param of a kind: 10000 (st2084, pu21), 2.2 (gamma), 255 (mulaw); 0 for none,
 * hlg and unknown kinds. */
double qc_default_param(qc_kind k);

#endif /* HK_QUANT_CURVE_H */
