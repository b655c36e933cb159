/*
 * cli.h — shared pieces of the `hektor` command line: argument cursor, option helpers,
 * database opening, output helpers. The CLI is a thin front end: it parses, calls
 * hektor.h and prints; it holds no database logic of its own.
 */
#ifndef HK_CLI_H
#define HK_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "hektor.h"

/* Exit codes: 0 ok, 1 the operation failed, 2 the command line is wrong. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

typedef struct cli_ctx {
    const char *db_path;
} cli_ctx;

typedef struct cli_cmd {
    const char *name;
    int (*run)(cli_ctx *ctx, int argc, char **argv);
    const char *summary;
    const char *help; /* full text printed by `hektor CMD --help` */
} cli_cmd;

/* Prints "hektor: error: ..." and returns EXIT_FAIL / EXIT_USAGE. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints hk_errmsg() for a failed call. */
int cli_hk_fail(hk_status st);
/* --vectors memory|disk; 0 when s parses, else a usage error for cmd was printed. */
int cli_parse_storage(const char *cmd, const char *s, hk_vector_storage *out);

/* Declarative option parsing: options are "--name VALUE" (or "--name=VALUE") when value
 * is set, flags when flag is set. Positional arguments fill pos[0..maxpos). Returns 0, or
 * EXIT_USAGE after printing what is wrong. */
typedef struct cli_opt {
    const char *name;
    const char **value;
    int *flag;
} cli_opt;
int cli_parse(const char *cmd, int argc, char **argv, const cli_opt *opts, char **pos,
              int *npos, int maxpos);
int cli_is_help(int argc, char **argv);
int cli_parse_u64(const char *s, uint64_t *out);
int cli_parse_u32(const char *s, uint32_t *out);
int cli_parse_float(const char *s, float *out);

uint64_t cli_now_ns(void); /* monotonic clock */
hk_status cli_open_db(cli_ctx *ctx, int write, int create, hk_db **db);
hk_status cli_open_collection(cli_ctx *ctx, const char *name, int write, hk_db **db,
                              hk_collection **c);
/* Closes c and db; returns EXIT_FAIL (after printing why) when closing failed. */
int cli_done(hk_db *db, hk_collection *c);
/* Parses a filter given on the command line. */
hk_status cli_filter(const char *json, hk_filter **f);

/* JSON output helpers (strings escaped, floats shortest round-trip). */
void cli_json_string(FILE *out, const char *s);
void cli_json_float(FILE *out, float v);

int cmd_create(cli_ctx *, int, char **);
int cmd_import(cli_ctx *, int, char **);
int cmd_search(cli_ctx *, int, char **);
int cmd_get(cli_ctx *, int, char **);
int cmd_delete(cli_ctx *, int, char **);
int cmd_count(cli_ctx *, int, char **);
int cmd_info(cli_ctx *, int, char **);
int cmd_verify(cli_ctx *, int, char **);
int cmd_list(cli_ctx *, int, char **);
int cmd_drop(cli_ctx *, int, char **);
int cmd_scroll(cli_ctx *, int, char **);
int cmd_index(cli_ctx *, int, char **);
int cmd_synonyms(cli_ctx *, int, char **);
int cmd_backup(cli_ctx *, int, char **);
int cmd_restore(cli_ctx *, int, char **);
int cmd_checkpoint(cli_ctx *, int, char **);
int cmd_reindex(cli_ctx *, int, char **);
int cmd_quantize(cli_ctx *, int, char **);
int cmd_project(cli_ctx *, int, char **);
int cmd_quality(cli_ctx *, int, char **);
int cmd_codebook(cli_ctx *, int, char **);
int cmd_storage(cli_ctx *, int, char **);
int cmd_serve(cli_ctx *, int, char **);
int cmd_embed(cli_ctx *, int, char **);
int cmd_embeddings(cli_ctx *, int, char **);

/* Text embedding (cmd_embed.c). path NULL = $HEKTOR_EMBEDDINGS or the build's default.
 * Each returns 0, or EXIT_FAIL after printing why. cli_embed_query fails when the text
 * has no word the embedder knows; *vec is malloc'ed. */
int cli_open_embedder(const char *path, hk_embedder **e);
int cli_embed_query(hk_embedder *e, const char *text, float **vec, uint32_t *dim);

extern const cli_cmd cli_commands[];

#endif
