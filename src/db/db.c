/*
 * db.c — a database is a directory:
 *
 *   DIR/HEKTOR                      marker: "HEKTOR database, format 1"
 *   DIR/LOCK                        flock()ed by the one writing process (holds its pid)
 *   DIR/collections/NAME/snapshot.hks, wal.hkl
 *
 * Collections are created in a temporary directory and renamed into place, and dropped
 * by renaming them aside before removal, so a crash never leaves half a collection
 * under its name; leftovers are cleaned when a writer opens the database.
 *
 * Loaded collections are cached and reference counted: the cache holds one reference,
 * each hk_collection_open another. Read-only handles take no lock and read the latest
 * durable state, so `hektor search` works while a server writes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "../store/fsutil.h"
#include "../store/snapshot.h"
#include "../store/wal.h"
#include "collection.h"

#define MARKER_TEXT "HEKTOR database, format 1\n"

void db_notice(hk_db *db, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (db->notice) db->notice(db->notice_ud, msg);
}

void hk_db_options_init(hk_db_options *opt) {
    memset(opt, 0, sizeof *opt);
}

static hk_status write_marker(const char *path) {
    char *m = fs_join(path, "HEKTOR");
    if (!m) return hk_fail(HK_NOMEM, "out of memory");
    int fd = open(m, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    hk_status st = fd < 0 ? hk_fail(HK_IO, "%s: cannot create: %s", m, strerror(errno))
                          : fs_write_all(fd, MARKER_TEXT, strlen(MARKER_TEXT), m);
    if (fd >= 0) {
        if (!st) st = fs_fsync(fd, m);
        close(fd);
    }
    hk_free(m);
    return st;
}

static hk_status check_marker(const char *path) {
    char *m = fs_join(path, "HEKTOR");
    if (!m) return hk_fail(HK_NOMEM, "out of memory");
    char buf[64] = {0};
    int fd = open(m, O_RDONLY | O_CLOEXEC);
    hk_status st = HK_OK;
    if (fd < 0) {
        st = hk_fail(HK_INVALID, "'%s' is not a HEKTOR database (it has no HEKTOR file)", path);
    } else {
        ssize_t r = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (r < 0 || strncmp(buf, "HEKTOR database, format ", 24) != 0)
            st = hk_fail(HK_CORRUPT, "%s: not a HEKTOR marker file", m);
        else if (strcmp(buf, MARKER_TEXT) != 0)
            st = hk_fail(HK_CORRUPT, "%s: unsupported database format (%.*s)", m,
                         (int)strcspn(buf, "\n"), buf);
    }
    hk_free(m);
    return st;
}

static hk_status take_lock(hk_db *db) {
    char *lp = fs_join(db->path, "LOCK");
    if (!lp) return hk_fail(HK_NOMEM, "out of memory");
    int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        hk_status st = hk_fail(HK_IO, "%s: cannot open: %s", lp, strerror(errno));
        hk_free(lp);
        return st;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        char pid[32] = {0};
        ssize_t r = pread(fd, pid, sizeof pid - 1, 0);
        close(fd);
        hk_free(lp);
        if (err == EWOULDBLOCK) {
            if (r > 0)
                return hk_fail(HK_LOCKED, "database is locked: '%s' is open for writing (by "
                               "pid %.*s)", db->path, (int)strcspn(pid, "\n"), pid);
            return hk_fail(HK_LOCKED, "database is locked: '%s' is open for writing elsewhere",
                           db->path);
        }
        return hk_fail(HK_IO, "cannot lock '%s': %s", db->path, strerror(err));
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0) (void)!pwrite(fd, pid, (size_t)n, 0);
    hk_free(lp);
    db->lock_fd = fd;
    return HK_OK;
}

int db_writer_active(const hk_db *db) {
    char *lp = fs_join(db->path, "LOCK");
    if (!lp) return 0;
    int fd = open(lp, O_RDONLY | O_CLOEXEC);
    hk_free(lp);
    if (fd < 0) return 0;
    int active = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd); /* also releases the shared lock when it was granted */
    return active;
}

/* Removes .tmp-*, .drop-* and .recover-* leftovers of interrupted creates, drops and
 * recoveries. */
static void clean_leftovers(hk_db *db) {
    DIR *d = opendir(db->coll_dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, ".tmp-", 5) || !strncmp(e->d_name, ".drop-", 6) ||
            !strncmp(e->d_name, ".recover-", 9)) {
            char *p = fs_join(db->coll_dir, e->d_name);
            if (p) fs_rmtree(p);
            hk_free(p);
        }
    closedir(d);
}

hk_status hk_db_open(const char *path, const hk_db_options *opt, hk_db **out) {
    if (!out) return hk_fail(HK_INVALID, "db_open: out is NULL");
    *out = NULL;
    if (!path || !path[0]) return hk_fail(HK_INVALID, "db_open: path is empty");
    hk_db_options o;
    if (opt) o = *opt;
    else hk_db_options_init(&o);
    int ro = (o.flags & HK_OPEN_READONLY) != 0;
    hk_status st = HK_OK;
    if (!fs_exists(path)) {
        if (!(o.flags & HK_OPEN_CREATE) || ro)
            return hk_fail(HK_NOT_FOUND, "database directory '%s' does not exist", path);
        if ((st = fs_mkdir(path))) return st;
    }
    hk_db *db = hk_calloc(1, sizeof *db);
    if (!db) return hk_fail(HK_NOMEM, "out of memory");
    db->lock_fd = -1;
    db->flags = o.flags;
    db->checkpoint_bytes = o.checkpoint_wal_bytes;
    pthread_mutex_init(&db->mu, NULL);
    db->path = hk_strdup(path);
    db->coll_dir = db->path ? fs_join(path, "collections") : NULL;
    if (!db->coll_dir) {
        hk_db_close(db);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    if (o.threads) hk_pool_set_workers(o.threads);
    /* Look before locking: a directory that is neither a database nor empty is left
     * exactly as it is (not even a LOCK file is created in it). */
    char *marker = fs_join(path, "HEKTOR");
    int has_marker = marker && fs_exists(marker);
    hk_free(marker);
    int fresh = 0;
    if (!has_marker) {
        DIR *d = opendir(path);
        struct dirent *e;
        int foreign = 0;
        while (d && (e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "LOCK"))
                foreign = 1;
        if (d) closedir(d);
        if (foreign) st = hk_fail(HK_INVALID, "'%s' is not a HEKTOR database (it has no HEKTOR "
                                  "file) and is not empty", path);
        else if (ro) st = hk_fail(HK_NOT_FOUND, "'%s' is an empty directory, not a HEKTOR database", path);
        else fresh = 1;
    }
    if (!st && !ro) st = take_lock(db);
    if (!st && fresh) {
        /* The marker first: a crash after it leaves a database whose collections/
         * directory the next writer creates. */
        st = write_marker(path);
        if (!st) st = fs_fsync_dir(path);
    } else if (!st) {
        st = check_marker(path);
    }
    if (!st && !ro && !fs_exists(db->coll_dir)) {
        st = fs_mkdir(db->coll_dir);
        if (!st) st = fs_fsync_dir(path);
    }
    if (!st && !ro) clean_leftovers(db);
    if (st) {
        hk_db_close(db);
        return st;
    }
    *out = db;
    return HK_OK;
}

/* Registers a notice callback (torn log tails dropped at open, and similar events that
 * are not errors but that an operator should see). */
void hk_db_set_notice(hk_db *db, void (*fn)(void *ud, const char *msg), void *ud) {
    if (!db) return;
    db->notice = fn;
    db->notice_ud = ud;
}

const char *hk_db_path(const hk_db *db) { return db ? db->path : NULL; }

hk_status hk_db_close(hk_db *db) {
    if (!db) return HK_OK;
    pthread_mutex_lock(&db->mu);
    size_t open_handles = db->handles;
    pthread_mutex_unlock(&db->mu);
    if (open_handles)
        return hk_fail(HK_INVALID, "database '%s' still has %zu open collection handle%s; close "
                       "them first (nothing was closed)", db->path, open_handles,
                       open_handles == 1 ? "" : "s");
    hk_status first = HK_OK;
    for (size_t i = 0; i < db->ncache; i++) {
        hk_collection *c = db->cache[i];
        if (!(db->flags & HK_OPEN_READONLY)) {
            hk_status st = hk_collection_checkpoint(c);
            if (st && !first) first = st;
        }
        coll_free(c);
    }
    hk_free(db->cache);
    if (db->lock_fd >= 0) close(db->lock_fd);
    pthread_mutex_destroy(&db->mu);
    hk_free(db->coll_dir);
    hk_free(db->path);
    hk_free(db);
    return first;
}

hk_status db_check_name(const char *name, const char *what) {
    if (!name || !name[0]) return hk_fail(HK_INVALID, "%s name is empty", what);
    size_t n = strlen(name);
    if (n > HK_MAX_NAME)
        return hk_fail(HK_INVALID, "%s name is %zu characters long; the limit is %d", what, n,
                       HK_MAX_NAME);
    if (name[0] == '.')
        return hk_fail(HK_INVALID, "%s name '%s' must not start with '.'", what, name);
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.'))
            return hk_fail(HK_INVALID, "%s name '%s' has the character '%c'; use letters, "
                           "digits, '_', '-' and '.'", what, name, ch);
    }
    return HK_OK;
}

static hk_status check_name(const char *name) { return db_check_name(name, "collection"); }

static hk_collection *cache_find(hk_db *db, const char *name, size_t *at) {
    for (size_t i = 0; i < db->ncache; i++)
        if (!strcmp(db->cache[i]->name, name)) {
            if (at) *at = i;
            return db->cache[i];
        }
    return NULL;
}

static hk_status cache_add(hk_db *db, hk_collection *c) {
    if (db->ncache == db->capcache) {
        size_t cap = db->capcache ? db->capcache * 2 : 8;
        hk_collection **a = hk_realloc(db->cache, cap * sizeof *a);
        if (!a) return hk_fail(HK_NOMEM, "out of memory");
        db->cache = a;
        db->capcache = cap;
    }
    db->cache[db->ncache++] = c;
    return HK_OK;
}

/* Called with db->mu held. */
static hk_status open_locked(hk_db *db, const char *name, hk_collection **out) {
    hk_collection *c = cache_find(db, name, NULL);
    if (!c) {
        char *dir = fs_join(db->coll_dir, name);
        if (!dir) return hk_fail(HK_NOMEM, "out of memory");
        int exists = fs_exists(dir);
        hk_free(dir);
        if (!exists) return hk_fail(HK_NOT_FOUND, "collection '%s' does not exist", name);
        hk_status st = coll_load(db, name, &c);
        if (st) return st;
        if ((st = cache_add(db, c))) {
            coll_free(c);
            return st;
        }
    }
    c->refs++;
    db->handles++;
    *out = c;
    return HK_OK;
}

hk_status hk_collection_open(hk_db *db, const char *name, hk_collection **out) {
    if (!db || !out) return hk_fail(HK_INVALID, "collection_open: db or out is NULL");
    *out = NULL;
    hk_status st = check_name(name);
    if (st) return st;
    pthread_mutex_lock(&db->mu);
    st = open_locked(db, name, out);
    pthread_mutex_unlock(&db->mu);
    return st;
}

void hk_collection_close(hk_collection *c) {
    if (!c) return;
    hk_db *db = c->db;
    pthread_mutex_lock(&db->mu);
    int free_it = --c->refs == 0;
    db->handles--;
    pthread_mutex_unlock(&db->mu);
    if (free_it) coll_free(c);
}

void hk_collection_config_init(hk_collection_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->metric = HK_METRIC_L2;
    cfg->index = HK_INDEX_HNSW;
    cfg->hnsw_m = HNSW_DEFAULT_M;
    cfg->hnsw_ef_construction = HNSW_DEFAULT_EF_CONSTRUCTION;
    cfg->hnsw_ef_search = HNSW_DEFAULT_EF_SEARCH;
}

const char *hk_metric_name(hk_metric m) {
    switch (m) {
    case HK_METRIC_L2: return "l2";
    case HK_METRIC_IP: return "ip";
    case HK_METRIC_COSINE: return "cosine";
    }
    return "unknown";
}

hk_status hk_metric_parse(const char *s, hk_metric *out) {
    if (!s) return hk_fail(HK_INVALID, "metric is NULL");
    if (!strcasecmp(s, "l2") || !strcasecmp(s, "euclid") || !strcasecmp(s, "euclidean")) *out = HK_METRIC_L2;
    else if (!strcasecmp(s, "ip") || !strcasecmp(s, "dot")) *out = HK_METRIC_IP;
    else if (!strcasecmp(s, "cosine")) *out = HK_METRIC_COSINE;
    else return hk_fail(HK_INVALID, "unknown metric '%s' (use l2, ip or cosine)", s);
    return HK_OK;
}

const char *hk_field_type_name(hk_field_type t) {
    switch (t) {
    case HK_FIELD_KEYWORD: return "keyword";
    case HK_FIELD_INTEGER: return "integer";
    case HK_FIELD_FLOAT: return "float";
    case HK_FIELD_BOOL: return "bool";
    }
    return "unknown";
}

hk_status hk_field_type_parse(const char *s, hk_field_type *out) {
    if (!s) return hk_fail(HK_INVALID, "field type is NULL");
    if (!strcmp(s, "keyword")) *out = HK_FIELD_KEYWORD;
    else if (!strcmp(s, "integer")) *out = HK_FIELD_INTEGER;
    else if (!strcmp(s, "float")) *out = HK_FIELD_FLOAT;
    else if (!strcmp(s, "bool")) *out = HK_FIELD_BOOL;
    else return hk_fail(HK_INVALID, "unknown payload index type '%s' (use keyword, integer, float or bool)", s);
    return HK_OK;
}

/* Writes an empty collection (snapshot + log) into dir. */
static hk_status write_empty(const char *dir, const hk_collection_config *cfg, int nosync) {
    hk_status st = fs_mkdir(dir);
    char *sp = fs_join(dir, "snapshot.hks"), *wp = fs_join(dir, "wal.hkl");
    if (!sp || !wp) st = hk_fail(HK_NOMEM, "out of memory");
    hk_buf tidx;
    hk_buf_init(&tidx);
    if (!st) st = coll_text_empty_section(cfg, &tidx);
    if (!st) {
        uint8_t live = 0;
        snap_source s = {.cfg = {cfg->dim, (uint32_t)cfg->metric, (uint32_t)cfg->index,
                                 cfg->hnsw_m, cfg->hnsw_ef_construction, cfg->hnsw_ef_search,
                                 0, 0, 0},
                         .live = &live, .text_index = tidx.data, .text_index_len = tidx.len};
        st = snap_write(sp, &s, nosync);
    }
    hk_buf_free(&tidx);
    wal *w = NULL;
    if (!st) st = wal_create(wp, 0, nosync, &w);
    wal_close(w);
    if (!st && !nosync) st = fs_fsync_dir(dir);
    hk_free(sp);
    hk_free(wp);
    return st;
}

hk_status hk_collection_create(hk_db *db, const char *name, const hk_collection_config *cfg,
                               hk_collection **out) {
    if (!db || !cfg) return hk_fail(HK_INVALID, "collection_create: db or config is NULL");
    if (out) *out = NULL;
    hk_status st = check_name(name);
    if (st) return st;
    if (db->flags & HK_OPEN_READONLY) return hk_fail(HK_READONLY, "database is open read-only");
    if ((cfg->dim < 1 && !(cfg->text_flags & HK_TEXT_ONLY)) || cfg->dim > HK_MAX_DIM)
        return hk_fail(HK_INVALID, "dimension %u is out of range (1 to %d)", cfg->dim, HK_MAX_DIM);
    if ((unsigned)cfg->metric > HK_METRIC_COSINE)
        return hk_fail(HK_INVALID, "unknown metric %d", (int)cfg->metric);
    hk_collection_config norm = *cfg;
    if ((st = coll_config_normalize(&norm))) return st;
    cfg = &norm;
    pthread_mutex_lock(&db->mu);
    char *dir = fs_join(db->coll_dir, name);
    size_t tl = strlen(name) + 16;
    char *tmpname = hk_malloc(tl);
    char *tmp = NULL;
    if (!dir || !tmpname) st = hk_fail(HK_NOMEM, "out of memory");
    if (!st && fs_exists(dir)) st = hk_fail(HK_EXISTS, "collection '%s' already exists", name);
    if (!st) {
        snprintf(tmpname, tl, ".tmp-%s", name);
        tmp = fs_join(db->coll_dir, tmpname);
        if (!tmp) st = hk_fail(HK_NOMEM, "out of memory");
    }
    int nosync = (db->flags & HK_OPEN_NOSYNC) != 0;
    if (!st) st = fs_rmtree(tmp);
    if (!st) st = write_empty(tmp, cfg, nosync);
    if (!st && rename(tmp, dir) != 0)
        st = hk_fail(HK_IO, "%s: cannot rename into place: %s", dir, strerror(errno));
    if (!st && !nosync) st = fs_fsync_dir(db->coll_dir);
    if (st && tmp) fs_rmtree(tmp);
    hk_collection *c = NULL;
    if (!st) st = open_locked(db, name, &c);
    pthread_mutex_unlock(&db->mu);
    hk_free(dir);
    hk_free(tmp);
    hk_free(tmpname);
    if (!st) {
        if (out) *out = c;
        else hk_collection_close(c);
    }
    return st;
}

/* Marks the cached collection `name` (if any) dropped for every handle, after waiting for
 * its writers and readers, and forgets it. Called with db->mu held. */
static void cache_forget(hk_db *db, const char *name) {
    size_t at;
    hk_collection *c = cache_find(db, name, &at);
    if (!c) return;
    pthread_mutex_lock(&c->write_mu);
    pthread_rwlock_wrlock(&c->rw);
    atomic_store(&c->dropped, 1);
    pthread_rwlock_unlock(&c->rw);
    pthread_mutex_unlock(&c->write_mu);
    memmove(db->cache + at, db->cache + at + 1, (db->ncache - at - 1) * sizeof *db->cache);
    db->ncache--;
    if (--c->refs == 0) coll_free(c);
}

hk_status hk_collection_drop(hk_db *db, const char *name) {
    if (!db) return hk_fail(HK_INVALID, "collection_drop: db is NULL");
    hk_status st = check_name(name);
    if (st) return st;
    if (db->flags & HK_OPEN_READONLY) return hk_fail(HK_READONLY, "database is open read-only");
    pthread_mutex_lock(&db->mu);
    char *dir = fs_join(db->coll_dir, name);
    size_t tl = strlen(name) + 32;
    char *aside_name = hk_malloc(tl), *aside = NULL;
    if (!dir || !aside_name) st = hk_fail(HK_NOMEM, "out of memory");
    if (!st && !fs_exists(dir)) st = hk_fail(HK_NOT_FOUND, "collection '%s' does not exist", name);
    if (!st) {
        snprintf(aside_name, tl, ".drop-%s-%ld", name, (long)getpid());
        if (!(aside = fs_join(db->coll_dir, aside_name))) st = hk_fail(HK_NOMEM, "out of memory");
    }
    if (!st && rename(dir, aside) != 0)
        st = hk_fail(HK_IO, "%s: cannot remove: %s", dir, strerror(errno));
    if (!st && !(db->flags & HK_OPEN_NOSYNC)) st = fs_fsync_dir(db->coll_dir);
    if (!st) cache_forget(db, name);
    pthread_mutex_unlock(&db->mu);
    if (!st) fs_rmtree(aside);
    hk_free(dir);
    hk_free(aside);
    hk_free(aside_name);
    return st;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

hk_status hk_db_list(hk_db *db, char ***names, size_t *n) {
    if (!db || !names || !n) return hk_fail(HK_INVALID, "db_list: NULL argument");
    *names = NULL;
    *n = 0;
    DIR *d = opendir(db->coll_dir);
    if (!d) return hk_fail(HK_IO, "%s: cannot list: %s", db->coll_dir, strerror(errno));
    char **v = NULL;
    size_t m = 0, cap = 0;
    struct dirent *e;
    hk_status st = HK_OK;
    while (!st && (e = readdir(d))) {
        if (e->d_name[0] == '.' || check_name(e->d_name)) continue;
        char *sp = fs_join(db->coll_dir, e->d_name), *snap = sp ? fs_join(sp, "snapshot.hks") : NULL;
        int is_coll = snap && fs_exists(snap);
        hk_free(sp);
        hk_free(snap);
        if (!is_coll) continue; /* not a collection: left alone and not listed */
        if (m == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = hk_realloc(v, cap * sizeof *nv);
            if (!nv) {
                st = hk_fail(HK_NOMEM, "out of memory");
                break;
            }
            v = nv;
        }
        if (!(v[m] = hk_strdup(e->d_name))) st = hk_fail(HK_NOMEM, "out of memory");
        else m++;
    }
    closedir(d);
    if (st) {
        hk_strings_free(v, m);
        return st;
    }
    if (m > 1) qsort(v, m, sizeof *v, cmp_str);
    *names = v;
    *n = m;
    return HK_OK;
}

void hk_strings_free(char **s, size_t n) {
    if (!s) return;
    for (size_t i = 0; i < n; i++) hk_free(s[i]);
    hk_free(s);
}

/* ---- backup / restore ---- */

hk_status hk_db_backup(hk_db *db, const char *dest) {
    if (!db || !dest || !dest[0]) return hk_fail(HK_INVALID, "backup: database or destination missing");
    if (!fs_is_empty_dir(dest))
        return hk_fail(HK_EXISTS, "backup destination '%s' exists and is not empty", dest);
    int existed = fs_exists(dest);
    hk_status st = fs_mkdir(dest);
    char *cdir = fs_join(dest, "collections");
    if (!cdir) return hk_fail(HK_NOMEM, "out of memory");
    if (!st) st = fs_mkdir(cdir);
    char **names = NULL;
    size_t n = 0;
    if (!st) st = hk_db_list(db, &names, &n);
    for (size_t i = 0; i < n && !st; i++) {
        hk_collection *c;
        if ((st = hk_collection_open(db, names[i], &c))) break;
        char *dir = fs_join(cdir, names[i]);
        char *sp = dir ? fs_join(dir, "snapshot.hks") : NULL;
        char *wp = dir ? fs_join(dir, "wal.hkl") : NULL;
        if (!wp) st = hk_fail(HK_NOMEM, "out of memory");
        if (!st) st = fs_mkdir(dir);
        if (!st) {
            /* write_mu keeps writers out; readers go on. */
            pthread_mutex_lock(&c->write_mu);
            st = coll_write_snapshot(c, sp, NULL);
            uint64_t lsn = c->lsn;
            pthread_mutex_unlock(&c->write_mu);
            wal *w = NULL;
            if (!st) st = wal_create(wp, lsn, 0, &w);
            wal_close(w);
        }
        if (!st) st = fs_fsync_dir(dir);
        hk_free(dir);
        hk_free(sp);
        hk_free(wp);
        hk_collection_close(c);
    }
    hk_strings_free(names, n);
    if (!st) st = fs_fsync_dir(cdir);
    if (!st) st = db_codebooks_copy(db, dest);
    if (!st) st = write_marker(dest);
    if (!st) st = fs_fsync_dir(dest);
    hk_free(cdir);
    if (st) {
        /* Leave the destination as it was: absent or empty. */
        hk_fail_prefix(st, "backup to '%s'", dest);
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", hk_errmsg());
        fs_rmtree(dest);
        if (existed) fs_mkdir(dest);
        hk_fail(st, "%s", saved);
    }
    return st;
}

hk_status hk_db_restore(const char *src, const char *dest) {
    if (!src || !dest) return hk_fail(HK_INVALID, "restore: source or destination missing");
    if (!fs_is_empty_dir(dest))
        return hk_fail(HK_EXISTS, "restore destination '%s' exists and is not empty", dest);
    hk_db_options o;
    hk_db_options_init(&o);
    o.flags = HK_OPEN_READONLY;
    hk_db *db;
    hk_status st = hk_db_open(src, &o, &db);
    if (st) return hk_fail_prefix(st, "restore from '%s'", src);
    /* Load (and so verify) every collection before anything is written. */
    char **names = NULL;
    size_t n = 0;
    st = hk_db_list(db, &names, &n);
    for (size_t i = 0; i < n && !st; i++) {
        hk_collection *c;
        if (!(st = hk_collection_open(db, names[i], &c))) hk_collection_close(c);
    }
    hk_strings_free(names, n);
    if (!st) st = hk_db_backup(db, dest);
    else hk_fail_prefix(st, "restore from '%s' (nothing was written)", src);
    hk_db_close(db);
    return st;
}

/* ---- collection snapshots ---- */

hk_status hk_collection_snapshot(hk_collection *c, const char *path, uint64_t *bytes) {
    if (!c || !path || !path[0]) return hk_fail(HK_INVALID, "collection_snapshot: NULL argument");
    uint64_t local;
    if (!bytes) bytes = &local;
    *bytes = 0;
    /* write_mu keeps writers out while the image is taken; readers go on. */
    pthread_mutex_lock(&c->write_mu);
    hk_status st = atomic_load(&c->dropped)
                       ? hk_fail(HK_NOT_FOUND, "collection '%s' was dropped", c->name)
                       : coll_write_snapshot(c, path, bytes);
    pthread_mutex_unlock(&c->write_mu);
    if (st) unlink(path);
    return st;
}

static hk_status copy_file(const char *from, const char *to, int nosync) {
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) return hk_fail(errno == ENOENT ? HK_NOT_FOUND : HK_IO, "%s: cannot open: %s", from,
                               strerror(errno));
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        close(in);
        return hk_fail(HK_IO, "%s: cannot create: %s", to, strerror(errno));
    }
    hk_status st = HK_OK;
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) st = hk_fail(HK_IO, "%s: cannot read: %s", from, strerror(errno));
        if (n <= 0) break;
        if ((st = fs_write_all(out, buf, (size_t)n, to))) break;
    }
    if (!st && !nosync) st = fs_fsync(out, to);
    close(in);
    close(out);
    return st;
}

hk_status hk_collection_recover(hk_db *db, const char *name, const char *path) {
    if (!db || !path) return hk_fail(HK_INVALID, "collection_recover: NULL argument");
    hk_status st = check_name(name);
    if (st) return st;
    if (db->flags & HK_OPEN_READONLY) return hk_fail(HK_READONLY, "database is open read-only");
    int nosync = (db->flags & HK_OPEN_NOSYNC) != 0;
    size_t tl = strlen(name) + 32;
    char *tmpname = hk_malloc(tl);
    if (!tmpname) return hk_fail(HK_NOMEM, "out of memory");
    snprintf(tmpname, tl, ".recover-%s-%ld", name, (long)getpid());
    pthread_mutex_lock(&db->mu);
    char *dir = fs_join(db->coll_dir, name), *tmp = fs_join(db->coll_dir, tmpname);
    char *sp = tmp ? fs_join(tmp, "snapshot.hks") : NULL, *wp = tmp ? fs_join(tmp, "wal.hkl") : NULL;
    if (!dir || !wp || !sp) st = hk_fail(HK_NOMEM, "out of memory");
    if (!st) st = fs_rmtree(tmp);
    if (!st) st = fs_mkdir(tmp);
    if (!st) st = copy_file(path, sp, nosync);
    wal *w = NULL;
    if (!st) st = wal_create(wp, 0, nosync, &w);
    wal_close(w);
    if (!st && !nosync) st = fs_fsync_dir(tmp);
    /* Load the copy: every checksum and structure is verified before anything changes. */
    hk_collection *probe = NULL;
    if (!st) st = coll_load(db, tmpname, &probe);
    coll_free(probe);
    if (st) hk_fail_prefix(st, "recover '%s' from '%s' (nothing changed)", name, path);
    if (!st) {
        if (fs_exists(dir)) {
            /* Swap the directories in one step; writers and readers of the old
             * collection are waited for, and its handles answer HK_NOT_FOUND. */
            cache_forget(db, name);
            if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) != 0)
                st = hk_fail(HK_IO, "%s: cannot replace: %s", dir, strerror(errno));
        } else if (rename(tmp, dir) != 0) {
            st = hk_fail(HK_IO, "%s: cannot rename into place: %s", dir, strerror(errno));
        }
        if (!st && !nosync) st = fs_fsync_dir(db->coll_dir);
    }
    fs_rmtree(tmp); /* the copy on failure, the old collection after a swap */
    pthread_mutex_unlock(&db->mu);
    hk_free(dir);
    hk_free(tmp);
    hk_free(sp);
    hk_free(wp);
    hk_free(tmpname);
    return st;
}
