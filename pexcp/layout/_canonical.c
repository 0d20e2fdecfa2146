/* The canonical search in C: the depth-first search canonical.py describes (and loads with ctypes).
 *
 * One call runs one search at a fixed capacity under a given preorder (ranks), until it finds a placement,
 * proves that none exists, or reaches its node limit or deadline. Everything is counted in the units and
 * segments of pexcp.layout.instance; see canonical.py for the pruning rules and why they hold. Plain C with
 * no Python API, so building pexcp needs a C compiler but not Python's headers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int64_t i64;
#define PLACED ((i64)1 << 40) /* the minimum offset of a placed buffer: never the smallest of anything */

/* --- remembered sides: per set of buffers, the floors it failed above and the placements it fitted ------ */

typedef struct Record {
    struct Record *next;
    i64 *floors;    /* the side's minimum offsets when it was searched */
    i64 *offsets;   /* solved only: the placement found, per side member */
} Record;

typedef struct Entry {
    struct Entry *next;
    uint64_t hash;
    int len;
    int *ids;
    Record *failed, *solved;
} Entry;

typedef struct {
    Entry **buckets;
    size_t n_buckets, count;
} Memo;

/* --- search state ----------------------------------------------------------------------------------- */

typedef struct {
    int n, S;
    i64 cap;
    i64 *size;
    int *first, *stop;
    int *rank;               /* the static preorder: symmetry rules */
    int *dyn;                /* ties at one offset, per side: the preorder recomputed for the side (see side_rank) */
    i64 *width, *area;       /* static keys of the preorder */
    char order[4];           /* its letters: W width, A area, T the largest remaining total in a live segment */
    double *jitter;          /* per buffer, times the side's size, added to its position (perturbed restarts) */
    int *nb_start, *nb;      /* neighbours: buffers live together with each buffer (CSR) */
    int *tw_start, *tw;      /* twins: same lifetime */
    int *ib_start, *ib;      /* twins of the same size ranked earlier */
    i64 *floor;              /* lowest offset each unplaced buffer can take; PLACED once placed */
    i64 *off;                /* offset of each placed buffer, -1 otherwise */
    i64 *rem;                /* units of unplaced buffers live in each segment */
    int *crossing;           /* unplaced buffers live on both sides of time cut k */
    i64 *seg_floor;          /* scratch for the section inference */
    i64 nodes, max_nodes;
    double deadline;
    int stopped;             /* node limit or deadline reached: the search unwinds without conclusions */
    int oom;
    Memo memo;
} Search;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *xmalloc(Search *s, size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) { s->oom = 1; s->stopped = 1; }
    return p;
}

static uint64_t hash_ids(const int *ids, int len) {
    uint64_t h = 1469598103934665603ULL;
    for (int k = 0; k < len; k++) { h ^= (uint64_t)(unsigned)ids[k]; h *= 1099511628211ULL; }
    return h;
}

static Entry *memo_find(Memo *m, const int *ids, int len, uint64_t h) {
    if (!m->n_buckets) return NULL;
    for (Entry *e = m->buckets[h & (m->n_buckets - 1)]; e; e = e->next)
        if (e->hash == h && e->len == len && memcmp(e->ids, ids, (size_t)len * sizeof(int)) == 0) return e;
    return NULL;
}

/* A new entry for a set of buffers that has none yet (h = its hash). */
static Entry *memo_add(Search *s, const int *ids, int len, uint64_t h) {
    Memo *m = &s->memo;
    Entry *e;
    if (m->count >= m->n_buckets) { /* grow: keep at most one entry per bucket on average */
        size_t nb = m->n_buckets ? 2 * m->n_buckets : 256;
        Entry **b = calloc(nb, sizeof(Entry *));
        if (!b) { s->oom = s->stopped = 1; return NULL; }
        for (size_t k = 0; k < m->n_buckets; k++)
            for (Entry *x = m->buckets[k], *nx; x; x = nx) { nx = x->next; x->next = b[x->hash & (nb - 1)]; b[x->hash & (nb - 1)] = x; }
        free(m->buckets);
        m->buckets = b;
        m->n_buckets = nb;
    }
    e = xmalloc(s, sizeof(Entry));
    int *copy = xmalloc(s, (size_t)len * sizeof(int));
    if (!e || !copy) { free(e); free(copy); return NULL; }
    memcpy(copy, ids, (size_t)len * sizeof(int));
    *e = (Entry){m->buckets[h & (m->n_buckets - 1)], h, len, copy, NULL, NULL};
    m->buckets[h & (m->n_buckets - 1)] = e;
    m->count++;
    return e;
}

static void free_records(Record *r) {
    for (Record *nx; r; r = nx) { nx = r->next; free(r->floors); free(r->offsets); free(r); }
}

static void memo_free(Memo *m) {
    for (size_t k = 0; k < m->n_buckets; k++)
        for (Entry *e = m->buckets[k], *nx; e; e = nx) {
            nx = e->next;
            free_records(e->failed);
            free_records(e->solved);
            free(e->ids);
            free(e);
        }
    free(m->buckets);
}

/* --- state changes ---------------------------------------------------------------------------------- */

/* Put c at offset o; saves its neighbours' previous floors in prev for unplace. Returns how many unplaced
 * neighbours it raised (0: nothing unplaced can still go below its top). */
static int place(Search *s, int c, i64 o, i64 *prev) {
    i64 top = o + s->size[c];
    int raised = 0;
    for (int k = s->nb_start[c]; k < s->nb_start[c + 1]; k++) {
        int j = s->nb[k];
        if (prev) prev[k - s->nb_start[c]] = s->floor[j];
        if (s->floor[j] < top) { s->floor[j] = top; raised++; }
    }
    s->floor[c] = PLACED;
    s->off[c] = o;
    for (int t = s->first[c]; t < s->stop[c]; t++) s->rem[t] -= s->size[c];
    return raised;
}

static void unplace(Search *s, int c, i64 o, const i64 *prev) {
    for (int t = s->first[c]; t < s->stop[c]; t++) s->rem[t] += s->size[c];
    s->off[c] = -1;
    s->floor[c] = o;
    for (int k = s->nb_start[c]; k < s->nb_start[c + 1]; k++) s->floor[s->nb[k]] = prev[k - s->nb_start[c]];
}

/* --- pruning ---------------------------------------------------------------------------------------- */

/* Section inference over segments [lo, hi), given that nothing more goes below offset o: in every segment the
 * unplaced sizes must fit between the lowest floor of the unplaced buffers live there and the capacity. */
static int fits(Search *s, const int *mem, int m, int lo, int hi, i64 o) {
    i64 most = 0;
    for (int t = lo; t < hi; t++) if (s->rem[t] > most) most = s->rem[t];
    if (o + most > s->cap) return 0;
    i64 *fl = s->seg_floor;
    for (int t = lo; t < hi; t++) fl[t] = s->cap;
    for (int k = 0; k < m; k++) {
        int i = mem[k];
        i64 f = s->floor[i];
        if (f >= PLACED) continue;
        int a = s->first[i] > lo ? s->first[i] : lo, b = s->stop[i] < hi ? s->stop[i] : hi;
        for (int t = a; t < b; t++) if (f < fl[t]) fl[t] = f;
    }
    for (int t = lo; t < hi; t++) if (fl[t] + s->rem[t] > s->cap) return 0;
    return 1;
}

/* Symmetry: identical twins go in rank order; a run of twins stacked on each other is kept in rank order. */
static int breaks_symmetry(Search *s, int c, i64 o) {
    for (int k = s->ib_start[c]; k < s->ib_start[c + 1]; k++) if (s->floor[s->ib[k]] < PLACED) return 1;
    for (int k = s->tw_start[c]; k < s->tw_start[c + 1]; k++) {
        int p = s->tw[k];
        if (s->off[p] >= 0 && s->off[p] + s->size[p] == o && s->rank[p] > s->rank[c]) return 1;
    }
    return 0;
}

/* --- search ----------------------------------------------------------------------------------------- */

static int decompose(Search *s, const int *mem, int m, int lo, int hi, const int *cuts, int n_cuts);

typedef struct { i64 key; int id; } Cand;

static int cmp_cand(const void *x, const void *y) {
    i64 a = ((const Cand *)x)->key, b = ((const Cand *)y)->key;
    return (a > b) - (a < b);
}

static int search(Search *s, const int *mem, int m, int lo, int hi, i64 o, int r);

/* Continue after placing c at o: split at the time cuts it was the last to cross, if any. */
static int descend(Search *s, int c, const int *mem, int m, int lo, int hi, i64 o) {
    int a = s->first[c], b = s->stop[c], n_cuts = 0, found;
    int *cuts = xmalloc(s, (size_t)(b - a + 1) * sizeof(int));
    if (!cuts) return 0;
    for (int k = a + 1; k < b; k++)
        if (--s->crossing[k] == 0 && lo < k && k < hi) cuts[n_cuts++] = k;
    found = n_cuts ? decompose(s, mem, m, lo, hi, cuts, n_cuts) : search(s, mem, m, lo, hi, o, s->dyn[c]);
    free(cuts);
    if (!found) for (int k = a + 1; k < b; k++) s->crossing[k]++;
    return found;
}

/* Place the buffers of mem (live in segments [lo, hi)) in canonical order: non-decreasing offsets, ties in
 * rank order, each at its floor; o and r are the offset and rank of the buffer placed last. */
static int search(Search *s, const int *mem, int m, int lo, int hi, i64 o, int r) {
    s->nodes++;
    if (s->nodes > s->max_nodes || ((s->nodes & 255) == 0 && now() >= s->deadline)) { s->stopped = 1; return 0; }
    i64 lowest_top = PLACED;
    int any = 0;
    for (int k = 0; k < m; k++) {
        int i = mem[k];
        if (s->floor[i] >= PLACED) continue;
        any = 1;
        if (s->floor[i] + s->size[i] < lowest_top) lowest_top = s->floor[i] + s->size[i];
    }
    if (!any) return 1;
    Cand *cand = xmalloc(s, (size_t)m * sizeof(Cand));
    if (!cand) return 0;
    int n_cand = 0;
    for (int k = 0; k < m; k++) {
        int i = mem[k];
        i64 f = s->floor[i];
        /* dominance: nothing may start at or above the top of the lowest unplaced buffer, or it would fit below */
        if (f < lowest_top && (f > o || (f == o && s->dyn[i] > r)))
            cand[n_cand++] = (Cand){f * s->n + s->dyn[i], i};
    }
    qsort(cand, (size_t)n_cand, sizeof(Cand), cmp_cand);
    int found = 0;
    for (int k = 0; k < n_cand && !found && !s->stopped; k++) {
        int c = cand[k].id;
        i64 at = s->floor[c];
        if (breaks_symmetry(s, c, at)) continue;
        i64 *prev = xmalloc(s, (size_t)(s->nb_start[c + 1] - s->nb_start[c]) * sizeof(i64));
        if (!prev) break;
        int raised = place(s, c, at, prev);
        found = fits(s, mem, m, lo, hi, at) && descend(s, c, mem, m, lo, hi, at);
        if (!found && !s->stopped) unplace(s, c, at, prev);
        free(prev);
        /* nothing unplaced could go below c's top, so c at its floor blocks nothing: any placement that puts
         * another candidate next can move c down to here, so it failed too (MiniMalloc's hatless pruning) */
        if (!raised) break;
    }
    free(cand);
    return found;
}

/* --- the preorder of a side ------------------------------------------------------------------------- */

typedef struct { i64 key[3]; int rank, id; } Ranked;

/* Descending in each key in turn, then the static rank (the buffer index for a plain preorder). */
static int cmp_ranked(const void *x, const void *y) {
    const Ranked *a = x, *b = y;
    for (int k = 0; k < 3; k++)
        if (a->key[k] != b->key[k]) return a->key[k] > b->key[k] ? -1 : 1;
    return (a->rank > b->rank) - (a->rank < b->rank);
}

typedef struct { double key; int id; } Jittered;

static int cmp_jittered(const void *x, const void *y) {
    double a = ((const Jittered *)x)->key, b = ((const Jittered *)y)->key;
    return (a > b) - (a < b);
}

/* Rank the buffers of a side as MiniMalloc does when it solves a partition: the preorder recomputed with T
 * taken from what is still unplaced, then moved by the run's jitter. Sets dyn[side[k]]. */
static int side_rank(Search *s, const int *side, int len) {
    Ranked *ranked = xmalloc(s, (size_t)len * sizeof(Ranked));
    Jittered *jit = xmalloc(s, (size_t)len * sizeof(Jittered));
    if (!ranked || !jit) { free(ranked); free(jit); return 0; }
    for (int k = 0; k < len; k++) {
        int i = side[k];
        i64 t = 0;
        for (int u = s->first[i]; u < s->stop[i]; u++) if (s->rem[u] > t) t = s->rem[u];
        ranked[k] = (Ranked){{0, 0, 0}, s->rank[i], i};
        for (int q = 0; q < 3 && s->order[q]; q++)
            ranked[k].key[q] = s->order[q] == 'W' ? s->width[i] : s->order[q] == 'A' ? s->area[i] : t;
    }
    qsort(ranked, (size_t)len, sizeof(Ranked), cmp_ranked);
    for (int k = 0; k < len; k++) jit[k] = (Jittered){k + s->jitter[ranked[k].id] * len, ranked[k].id};
    qsort(jit, (size_t)len, sizeof(Jittered), cmp_jittered);
    for (int k = 0; k < len; k++) s->dyn[jit[k].id] = k;
    free(ranked); free(jit);
    return 1;
}

/* The same buffers (e: their memo entry, or NULL) failed before above floors no higher than now. */
static int known_failure(Search *s, const Entry *e, const int *side, int len) {
    if (!e) return 0;
    for (Record *r = e->failed; r; r = r->next) {
        int k = 0;
        while (k < len && s->floor[side[k]] >= r->floors[k]) k++;
        if (k == len) return 1;
    }
    return 0;
}

/* Place one side; e is its memo entry as found before (entries never move), h the hash of its buffers. */
static int solve_side(Search *s, Entry *e, uint64_t h, const int *side, int len, int lo, int hi) {
    if (e) /* a placement found before above floors no lower than now still fits */
        for (Record *r = e->solved; r; r = r->next) {
            int k = 0;
            while (k < len && s->floor[side[k]] <= r->floors[k]) k++;
            if (k < len) continue;
            for (k = 0; k < len; k++) {
                int c = side[k];
                place(s, c, r->offsets[k], NULL);
                for (int t = s->first[c] + 1; t < s->stop[c]; t++) s->crossing[t]--;
            }
            return 1;
        }
    i64 *floors = xmalloc(s, (size_t)len * sizeof(i64));
    int *saved = xmalloc(s, (size_t)len * sizeof(int)); /* the enclosing side's ranks, for its later candidates */
    if (!floors || !saved) { free(floors); free(saved); return 0; }
    for (int k = 0; k < len; k++) { floors[k] = s->floor[side[k]]; saved[k] = s->dyn[side[k]]; }
    int found = side_rank(s, side, len) && search(s, side, len, lo, hi, -1, -1);
    for (int k = 0; k < len; k++) s->dyn[side[k]] = saved[k];
    free(saved);
    if (s->stopped) { free(floors); return 0; } /* an interrupted search proves nothing */
    Record *r = xmalloc(s, sizeof(Record));
    if (!e) e = memo_find(&s->memo, side, len, h); /* the search below may have remembered this side too */
    if (!e) e = memo_add(s, side, len, h);
    i64 *offsets = found ? xmalloc(s, (size_t)len * sizeof(i64)) : NULL;
    if (!r || !e || (found && !offsets)) { free(r); free(floors); free(offsets); return found; }
    for (int k = 0; found && k < len; k++) offsets[k] = s->off[side[k]];
    *r = (Record){found ? e->solved : e->failed, floors, offsets};
    if (found) e->solved = r; else e->failed = r;
    return found;
}

/* Solve the sides between cuts one by one; all must fit. Known failures are checked first. */
static int decompose(Search *s, const int *mem, int m, int lo, int hi, const int *cuts, int n_cuts) {
    int n = s->n, S = s->S, ok = 1, n_sides = 0;
    int *un = xmalloc(s, (size_t)m * sizeof(int));
    int *sides = xmalloc(s, (size_t)(n_cuts + 1) * (size_t)m * sizeof(int)); /* side q at q * m */
    int *side_len = xmalloc(s, (size_t)(n_cuts + 1) * sizeof(int));
    int *side_lo = xmalloc(s, (size_t)(n_cuts + 1) * sizeof(int)), *side_hi = xmalloc(s, (size_t)(n_cuts + 1) * sizeof(int));
    uint64_t *side_hash = xmalloc(s, (size_t)(n_cuts + 1) * sizeof(uint64_t));
    Entry **side_entry = xmalloc(s, (size_t)(n_cuts + 1) * sizeof(Entry *));
    i64 *snap = xmalloc(s, (size_t)(2 * n + S) * sizeof(i64));
    int *snap_crossing = xmalloc(s, (size_t)(S + 1) * sizeof(int));
    if (s->stopped) ok = 0;
    int n_un = 0;
    for (int k = 0; ok && k < m; k++) if (s->floor[mem[k]] < PLACED) un[n_un++] = mem[k];
    for (int q = 0; ok && q <= n_cuts; q++) {
        int left = q ? cuts[q - 1] : lo, right = q < n_cuts ? cuts[q] : hi, len = 0;
        int *side = sides + (size_t)n_sides * m;
        for (int k = 0; k < n_un; k++) if (s->first[un[k]] < right && s->stop[un[k]] > left) side[len++] = un[k];
        if (!len) continue;
        side_hash[n_sides] = hash_ids(side, len);
        side_entry[n_sides] = memo_find(&s->memo, side, len, side_hash[n_sides]);
        if (known_failure(s, side_entry[n_sides], side, len)) ok = 0;
        side_len[n_sides] = len; side_lo[n_sides] = left; side_hi[n_sides] = right; n_sides++;
    }
    if (ok) {
        memcpy(snap, s->floor, (size_t)n * sizeof(i64));
        memcpy(snap + n, s->off, (size_t)n * sizeof(i64));
        memcpy(snap + 2 * n, s->rem, (size_t)S * sizeof(i64));
        memcpy(snap_crossing, s->crossing, (size_t)(S + 1) * sizeof(int));
        for (int q = 0; ok && q < n_sides; q++)
            ok = solve_side(s, side_entry[q], side_hash[q], sides + (size_t)q * m, side_len[q], side_lo[q], side_hi[q]);
        if (!ok && !s->stopped) {
            memcpy(s->floor, snap, (size_t)n * sizeof(i64));
            memcpy(s->off, snap + n, (size_t)n * sizeof(i64));
            memcpy(s->rem, snap + 2 * n, (size_t)S * sizeof(i64));
            memcpy(s->crossing, snap_crossing, (size_t)(S + 1) * sizeof(int));
        }
    }
    free(un); free(sides); free(side_len); free(side_lo); free(side_hi); free(side_hash); free(side_entry);
    free(snap); free(snap_crossing);
    return ok;
}

/* --- set-up and the entry point ---------------------------------------------------------------- */

/* CSR lists of j != i with related(i, j). */
static int build_lists(Search *s, int **start, int **list, int (*related)(Search *, int, int)) {
    int n = s->n;
    size_t total = 0;
    *start = xmalloc(s, (size_t)(n + 1) * sizeof(int));
    if (!*start) return 0;
    for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) total += (i != j && related(s, i, j));
    *list = xmalloc(s, total * sizeof(int));
    if (!*list) return 0;
    int at = 0;
    for (int i = 0; i < n; i++) {
        (*start)[i] = at;
        for (int j = 0; j < n; j++) if (i != j && related(s, i, j)) (*list)[at++] = j;
    }
    (*start)[n] = at;
    return 1;
}

static int live_together(Search *s, int i, int j) { return s->first[i] < s->stop[j] && s->first[j] < s->stop[i]; }
static int twins(Search *s, int i, int j) { return s->first[i] == s->first[j] && s->stop[i] == s->stop[j]; }
static int identical_before(Search *s, int i, int j) { return twins(s, i, j) && s->size[i] == s->size[j] && s->rank[j] < s->rank[i]; }

static void search_free(Search *s) {
    free(s->size); free(s->first); free(s->stop); free(s->rank);
    free(s->nb_start); free(s->nb); free(s->tw_start); free(s->tw); free(s->ib_start); free(s->ib);
    free(s->floor); free(s->off); free(s->rem); free(s->crossing); free(s->seg_floor);
    free(s->dyn); free(s->width); free(s->area); free(s->jitter);
    memo_free(&s->memo);
}

/* One canonical search at `cap` units. Buffer i has size[i] units, is live in segments [first[i], stop[i]), has
 * rank[i] in the static preorder (symmetry), and ties at one offset follow the preorder `order` (letters of
 * W, A, T; keys width[i], area[i] and the remaining segment totals) recomputed per side, moved by jitter[i]
 * times the side's size. Stops after max_nodes nodes or once CLOCK_MONOTONIC (Python's
 * time.monotonic) reaches deadline. Returns 1 fits (offsets[i] set), 0 proved that nothing fits, -1 stopped
 * first, -2 out of memory, -3 bad input; *nodes_out is the number of nodes searched. */
int canonical_search(int n, int S, const int64_t *size, const int32_t *first, const int32_t *stop,
                     const int32_t *rank, const int64_t *width, const int64_t *area, const char *order,
                     const double *jitter, int64_t cap, int64_t max_nodes, double deadline, int64_t *offsets,
                     int64_t *nodes_out) {
    Search s = {0};
    int status = -1;
    *nodes_out = 0;
    if (n < 0 || S < 0) return -3;
    for (int i = 0; i < n; i++)
        if (first[i] < 0 || stop[i] > S || first[i] >= stop[i] || size[i] <= 0) return -3;
    s.n = n; s.S = S; s.cap = cap; s.max_nodes = max_nodes; s.deadline = deadline;
    s.size = malloc((size_t)(n + 1) * sizeof(i64));
    s.first = malloc((size_t)(n + 1) * sizeof(int)); s.stop = malloc((size_t)(n + 1) * sizeof(int));
    s.rank = malloc((size_t)(n + 1) * sizeof(int));
    s.floor = malloc((size_t)(n + 1) * sizeof(i64)); s.off = malloc((size_t)(n + 1) * sizeof(i64));
    s.rem = calloc((size_t)S + 1, sizeof(i64)); s.crossing = calloc((size_t)S + 2, sizeof(int));
    s.seg_floor = malloc((size_t)(S + 1) * sizeof(i64));
    s.dyn = malloc((size_t)(n + 1) * sizeof(int));
    s.width = malloc((size_t)(n + 1) * sizeof(i64)); s.area = malloc((size_t)(n + 1) * sizeof(i64));
    s.jitter = malloc((size_t)(n + 1) * sizeof(double));
    strncpy(s.order, order, 3);
    if (!s.size || !s.first || !s.stop || !s.rank || !s.floor || !s.off || !s.rem || !s.crossing || !s.seg_floor
        || !s.dyn || !s.width || !s.area || !s.jitter) {
        search_free(&s);
        return -2;
    }
    for (int i = 0; i < n; i++) {
        s.size[i] = size[i]; s.first[i] = first[i]; s.stop[i] = stop[i]; s.rank[i] = s.dyn[i] = rank[i];
        s.width[i] = width[i]; s.area[i] = area[i]; s.jitter[i] = jitter[i];
    }
    if (build_lists(&s, &s.nb_start, &s.nb, live_together) && build_lists(&s, &s.tw_start, &s.tw, twins)
        && build_lists(&s, &s.ib_start, &s.ib, identical_before)) {
        i64 most = 0;
        for (int i = 0; i < n; i++) {
            s.floor[i] = 0; s.off[i] = -1;
            for (int t = s.first[i]; t < s.stop[i]; t++) s.rem[t] += s.size[i];
            for (int t = s.first[i] + 1; t < s.stop[i]; t++) s.crossing[t]++;
        }
        for (int t = 0; t < S; t++) if (s.rem[t] > most) most = s.rem[t];
        if (most > cap) status = 0;
        else {
            int *everyone = xmalloc(&s, (size_t)(n + 1) * sizeof(int)), *cuts = xmalloc(&s, (size_t)(S + 1) * sizeof(int));
            int n_cuts = 0;
            if (everyone && cuts) {
                for (int i = 0; i < n; i++) everyone[i] = i;
                for (int t = 1; t < S; t++) if (s.crossing[t] == 0) cuts[n_cuts++] = t;
                int found = n == 0 || decompose(&s, everyone, n, 0, S, cuts, n_cuts);
                status = found ? 1 : s.stopped ? -1 : 0;
            }
            free(everyone); free(cuts);
        }
    }
    if (s.oom) status = -2;
    if (status == 1) for (int i = 0; i < n; i++) offsets[i] = s.off[i];
    *nodes_out = s.nodes;
    search_free(&s);
    return status;
}
