/*
 * umap.c — UMAP's layout (McInnes, Healy and Melville 2018) from the k-NN graph.
 */
#include "project.h"

hk_status proj_umap(const flat_matrix *m, hk_projection *p, const hk_projection_options *o) {
    (void)m, (void)p, (void)o;
    return hk_fail(HK_INVALID, "UMAP is not built into this version yet: use pca");
}
