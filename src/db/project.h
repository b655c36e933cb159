/*
 * project.h — private pieces shared by project.c (sampling, k-NN graph, PCA, quality)
 * and umap.c (UMAP's layout from the graph and the PCA coordinates).
 */
#ifndef HK_PROJECT_H
#define HK_PROJECT_H

#include "core.h"
#include "../index/flat.h"

uint64_t proj_rand(uint64_t *s);
/* Reports progress; 1 when the caller asked to stop. */
int proj_report(const hk_projection_options *o, const char *phase, double f);
hk_status proj_cancelled(void);
/* Internal flat distance -> the metric's user distance (l2: Euclidean; else 1 - sim). */
float proj_user_dist(hk_metric metric, float d);
/* Mean k-NN preservation of coords (n x cdim) against m's rows over nsample points. */
hk_status proj_quality(const flat_matrix *m, const float *coords, uint32_t cdim, uint32_t k,
                       size_t nsample, uint64_t seed, double *out, uint32_t *used);
/* Top-3 PCA of x (n x d) into coords (n x 3) with each axis's variance share. */
hk_status proj_pca(const float *x, size_t n, size_t d, const hk_projection_options *o,
                   float *coords, double ratio[3]);
/* UMAP: p->knn / p->knn_dist / p->count set, p->coords holds the PCA initialisation and
 * receives the layout. */
hk_status proj_umap(const flat_matrix *m, hk_projection *p, const hk_projection_options *o);

#endif
