/*
 * cmd_embed.c — text embedding on the command line: `embed` prints a text's vector,
 * `embeddings` converts and describes tables, and the helpers that `search --embed` and
 * `import --embed` share. The embedder is the library's (hk_embedder_open); the CLI only
 * picks the table: --embeddings FILE, else $HEKTOR_EMBEDDINGS, else the build's default.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_open_embedder(const char *path, hk_embedder **e) {
    hk_status st = hk_embedder_open(path, e);
    if (st) return cli_hk_fail(st);
    return 0;
}

int cli_embed_query(hk_embedder *e, const char *text, float **vec, uint32_t *dim) {
    uint32_t d = hk_embedder_dim(e), known = 0;
    float *v = malloc((size_t)d * sizeof *v);
    if (!v) return cli_fail("out of memory");
    const char *texts[1] = {text};
    hk_status st = hk_embed(e, texts, NULL, 1, v, &known);
    if (st) {
        free(v);
        return cli_hk_fail(st);
    }
    if (!known) {
        free(v);
        return cli_fail("no word of the text is in the embedding's vocabulary, so it has no "
                        "vector");
    }
    *vec = v;
    *dim = d;
    return 0;
}

int cmd_embed(cli_ctx *ctx, int argc, char **argv) {
    (void)ctx;
    const char *text = NULL, *table = NULL;
    cli_opt opts[] = {{"--text", &text, NULL}, {"--embeddings", &table, NULL}, {NULL, NULL, NULL}};
    char *pos[1];
    int npos, rc = cli_parse("embed", argc, argv, opts, pos, &npos, 0);
    if (rc) return rc;
    if (!text) return cli_usage("embed", "give the text with --text");
    hk_embedder *e = NULL;
    if ((rc = cli_open_embedder(table, &e))) return rc;
    float *v = NULL;
    uint32_t dim = 0;
    rc = cli_embed_query(e, text, &v, &dim);
    if (!rc) {
        putchar('[');
        for (uint32_t d = 0; d < dim; d++) {
            if (d) putchar(',');
            cli_json_float(stdout, v[d]);
        }
        puts("]");
    }
    free(v);
    hk_embedder_close(e);
    return rc;
}

static int embeddings_info(int argc, char **argv) {
    int json = 0;
    cli_opt opts[] = {{"--json", NULL, &json}, {NULL, NULL, NULL}};
    char *pos[1];
    int npos, rc = cli_parse("embeddings", argc, argv, opts, pos, &npos, 1);
    if (rc) return rc;
    hk_embedder *e = NULL;
    if ((rc = cli_open_embedder(npos ? pos[0] : NULL, &e))) return rc;
    hk_embedder_info in;
    hk_embedder_info_get(e, &in);
    if (json) {
        fputs("{\"kind\":", stdout);
        cli_json_string(stdout, in.kind);
        fputs(",\"path\":", stdout);
        cli_json_string(stdout, in.path);
        fputs(",\"source\":", stdout);
        cli_json_string(stdout, in.source);
        printf(",\"format_version\":%u,\"dim\":%u,\"words\":%llu,\"source_words\":%llu,"
               "\"sif_a\":%g,\"component_words\":%u,\"file_bytes\":%llu}\n",
               in.format_version, in.dim, (unsigned long long)in.words,
               (unsigned long long)in.source_words, in.sif_a, in.component_words,
               (unsigned long long)in.file_bytes);
    } else {
        printf("table           %s\n", in.path);
        printf("kind            %s (SIF-weighted average of word vectors)\n", in.kind);
        printf("source          %s\n", *in.source ? in.source : "(not recorded)");
        printf("format version  %u\n", in.format_version);
        printf("dimension       %u\n", in.dim);
        printf("words           %llu (of %llu in the source)\n", (unsigned long long)in.words,
               (unsigned long long)in.source_words);
        printf("SIF a           %g\n", in.sif_a);
        if (in.component_words)
            printf("component       removed (from reference sentences of %u words)\n",
                   in.component_words);
        else
            printf("component       none removed\n");
        printf("bytes           %llu (checksum verified)\n", (unsigned long long)in.file_bytes);
    }
    hk_embedder_close(e);
    return EXIT_OK;
}

static int embeddings_convert(int argc, char **argv) {
    const char *source = NULL, *a_s = NULL, *words_s = NULL;
    int no_component = 0;
    cli_opt opts[] = {{"--source", &source, NULL},
                      {"--sif-a", &a_s, NULL},
                      {"--component-words", &words_s, NULL},
                      {"--no-component", NULL, &no_component},
                      {NULL, NULL, NULL}};
    char *pos[2];
    int npos, rc = cli_parse("embeddings", argc, argv, opts, pos, &npos, 2);
    if (rc) return rc;
    if (npos != 2) return cli_usage("embeddings", "convert needs SOURCE.json and OUT.hkem");
    hk_embedder_convert_options o = {source, 0, 0};
    float a = 0;
    if (a_s && (!cli_parse_float(a_s, &a) || !(a > 0 && a < 1)))
        return cli_usage("embeddings", "--sif-a must be a number in (0, 1), not '%s'", a_s);
    o.sif_a = a;
    if (words_s && (!cli_parse_u32(words_s, &o.component_words) || o.component_words < 1 ||
                    o.component_words == HK_EMBED_NO_COMPONENT))
        return cli_usage("embeddings", "--component-words must be a positive integer, not '%s'",
                         words_s);
    if (no_component && words_s)
        return cli_usage("embeddings", "--no-component and --component-words exclude each other");
    if (no_component) o.component_words = HK_EMBED_NO_COMPONENT;
    uint64_t t0 = cli_now_ns();
    hk_status st = hk_embedder_convert(pos[0], pos[1], &o);
    if (st) return cli_hk_fail(st);
    hk_embedder *e = NULL;
    if ((rc = cli_open_embedder(pos[1], &e))) return rc;
    hk_embedder_info in;
    hk_embedder_info_get(e, &in);
    printf("converted %s into %s: %llu words of %llu, dimension %u, %llu bytes, in %.1f s\n",
           pos[0], pos[1], (unsigned long long)in.words, (unsigned long long)in.source_words,
           in.dim, (unsigned long long)in.file_bytes, (double)(cli_now_ns() - t0) / 1e9);
    hk_embedder_close(e);
    return EXIT_OK;
}

int cmd_embeddings(cli_ctx *ctx, int argc, char **argv) {
    (void)ctx;
    if (argc < 1) return cli_usage("embeddings", "expected convert or info");
    if (!strcmp(argv[0], "convert")) return embeddings_convert(argc - 1, argv + 1);
    if (!strcmp(argv[0], "info")) return embeddings_info(argc - 1, argv + 1);
    return cli_usage("embeddings", "unknown subcommand '%s' (convert or info)", argv[0]);
}
