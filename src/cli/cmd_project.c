/*
 * cmd_project.c — `hektor project`: a collection's vectors projected to 3-D (PCA or UMAP,
 * hk_collection_project), a summary on stdout and, with --out, an id,x,y,z CSV.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

typedef struct pprog {
    int enabled, printed;
    uint64_t t0;
} pprog;

static int show_progress(void *ud, const char *phase, double f) {
    pprog *p = ud;
    if (!p->enabled) return 0;
    int width = 30, fill = (int)(f * width);
    fill = fill < 0 ? 0 : fill > width ? width : fill;
    fprintf(stderr, "\r[%.*s%*s] %3d%%  %-8s %.1f s ", fill, "##############################",
            width - fill, "", (int)(100.0 * f), phase, (double)(cli_now_ns() - p->t0) / 1e9);
    fflush(stderr);
    p->printed = 1;
    return 0;
}

static int write_csv(const char *path, const hk_projection *p) {
    FILE *f = fopen(path, "w");
    if (!f) return cli_fail("cannot write %s", path);
    fprintf(f, "id,x,y,z\n");
    for (uint64_t i = 0; i < p->count; i++)
        fprintf(f, "%llu,%.9g,%.9g,%.9g\n", (unsigned long long)p->ids[i], p->coords[3 * i],
                p->coords[3 * i + 1], p->coords[3 * i + 2]);
    if (fclose(f)) return cli_fail("cannot write %s", path);
    return 0;
}

int cmd_project(cli_ctx *ctx, int argc, char **argv) {
    const char *method = NULL, *maxp = NULL, *nb = NULL, *seed = NULL, *epochs = NULL,
               *min_dist = NULL, *out = NULL;
    int json = 0, quiet = 0, det = 0;
    cli_opt opts[] = {{"--method", &method, NULL},     {"--max-points", &maxp, NULL},
                      {"--neighbors", &nb, NULL},      {"--seed", &seed, NULL},
                      {"--epochs", &epochs, NULL},     {"--min-dist", &min_dist, NULL},
                      {"--out", &out, NULL},           {"--json", NULL, &json},
                      {"--quiet", NULL, &quiet},       {"--deterministic", NULL, &det},
                      {NULL, NULL, NULL}};
    char *pos[1];
    int npos, rc = cli_parse("project", argc, argv, opts, pos, &npos, 1);
    if (rc) return rc;
    if (npos != 1) return cli_usage("project", "expected a collection NAME");
    hk_projection_options o;
    hk_projection_options_init(&o);
    if (method && hk_projection_method_parse(method, &o.method))
        return cli_usage("project", "--method must be pca or umap, not '%s'", method);
    if (maxp && (!cli_parse_u64(maxp, &o.max_points) || o.max_points < 1))
        return cli_usage("project", "--max-points must be a positive integer, not '%s'", maxp);
    if (nb && (!cli_parse_u32(nb, &o.neighbors) || o.neighbors < 2 ||
               o.neighbors > HK_PROJECT_MAX_NEIGHBORS))
        return cli_usage("project", "--neighbors must be from 2 to %u, not '%s'",
                         HK_PROJECT_MAX_NEIGHBORS, nb);
    if (seed && !cli_parse_u64(seed, &o.seed))
        return cli_usage("project", "--seed must be a non-negative integer, not '%s'", seed);
    if (epochs && !cli_parse_u32(epochs, &o.epochs))
        return cli_usage("project", "--epochs must be a non-negative integer, not '%s'", epochs);
    if (min_dist && (!cli_parse_float(min_dist, &o.min_dist) || !(o.min_dist >= 0 && o.min_dist < 3)))
        return cli_usage("project", "--min-dist must be a number in [0, 3), not '%s'", min_dist);
    o.deterministic = det;
    pprog prog = {!quiet && !json && isatty(2), 0, cli_now_ns()};
    o.progress = show_progress;
    o.ud = &prog;
    hk_db *db;
    hk_collection *c;
    hk_status st = cli_open_collection(ctx, pos[0], 0, &db, &c);
    if (st) return cli_hk_fail(st);
    hk_projection *p = NULL;
    st = hk_collection_project(c, &o, &p);
    if (prog.printed) fputc('\n', stderr);
    if (st) {
        rc = cli_hk_fail(st);
        if (cli_done(db, c) && !rc) rc = EXIT_FAIL;
        return rc;
    }
    const char *mname = hk_projection_method_name(p->method);
    if (json) {
        printf("{\"method\":\"%s\",\"count\":%llu,\"total\":%llu,\"sampled\":%s,\"neighbors\":%u,"
               "\"seed\":%llu,\"knn_exact\":%s,\"knn_collection_graph\":%s,\"knn_preservation\":%.6f,\"quality_points\":%u,"
               "\"explained_variance\":",
               mname, (unsigned long long)p->count, (unsigned long long)p->total,
               p->sampled ? "true" : "false", p->neighbors, (unsigned long long)p->seed,
               p->knn_exact ? "true" : "false", p->knn_collection_graph ? "true" : "false",
               p->knn_preservation, p->quality_points);
        if (p->method == HK_PROJECT_PCA)
            printf("[%.9g,%.9g,%.9g]", p->explained_variance[0], p->explained_variance[1],
                   p->explained_variance[2]);
        else
            printf("null");
        printf(",\"epochs\":%u,\"min_dist\":%.6g,\"a\":%.6f,\"b\":%.6f,\"seconds\":%.3f}\n",
               p->epochs, (double)p->min_dist, p->umap_a, p->umap_b, p->seconds);
    } else {
        printf("projected %llu of %llu points with %s%s in %.2f s\n", (unsigned long long)p->count,
               (unsigned long long)p->total, mname,
               p->sampled ? " (a uniform sample)" : "", p->seconds);
        printf("k-NN graph: %u neighbours per point (%s)\n", p->neighbors,
               p->knn_exact ? "exact" : p->knn_collection_graph ? "the collection's HNSW graph"
                                                                : "HNSW over the points");
        printf("k-NN preservation: %.4f (mean over %u points of the share of the %u nearest in "
               "the original space that are among the %u nearest in 3-D)\n",
               p->knn_preservation, p->quality_points, p->neighbors, p->neighbors);
        if (p->method == HK_PROJECT_PCA)
            printf("explained variance: %.4f %.4f %.4f (total %.4f)\n", p->explained_variance[0],
                   p->explained_variance[1], p->explained_variance[2],
                   p->explained_variance[0] + p->explained_variance[1] + p->explained_variance[2]);
        else
            printf("umap: %u epochs, min_dist %g (curve a %.4f, b %.4f)\n", p->epochs,
                   (double)p->min_dist, p->umap_a, p->umap_b);
    }
    rc = out ? write_csv(out, p) : 0;
    if (!rc && out && !json) printf("wrote %s\n", out);
    hk_projection_free(p);
    if (cli_done(db, c) && !rc) rc = EXIT_FAIL;
    return rc;
}
