// Helper threads for the products and the attention (ck_matmul_f32, ck_matmul_q8, ck_matmul_q4, ck_attn_runs). They
// are started by ck_blas_set_threads, never on the per-token path. Between jobs a helper spins for a while (a decode
// step issues ~200 jobs back to back), then sleeps on a futex.
//
// A job is a count of chunks. Part p first takes the chunks of its own share, in order (so each thread streams its
// weights sequentially), then takes what is left of the other shares. A thread that is descheduled, woken late or
// slower (a noisy neighbour, the HTTP threads, a client on the same cores) no longer holds the others up for its
// whole share: the caller waits only for chunks already started. Which thread runs a chunk never changes its bits:
// a chunk is a set of whole outputs (weight-row groups, attention items), each computed the same way anywhere.
#define _GNU_SOURCE
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "internal.h"

#define CK_POOL_MAX 64
#define CK_POOL_SPINS 20000  // pause iterations before sleeping: a few hundred microseconds

// One share's claim counter on its own cache line: the owner and a thief bump it, nobody else touches the line.
typedef struct {
    _Alignas(64) _Atomic int next;
    int end;
} ck_share;

static ck_share shares[CK_POOL_MAX];

static struct {
    int parts;                 // caller + helpers
    _Atomic unsigned gen;      // bumped once per job; helpers wait for it to change
    _Atomic int open;          // a job's chunks may be claimed
    _Atomic int inside;        // helpers that joined the open job and may still hold a chunk
    _Atomic int sleepers;
    _Atomic int busy;          // a job is using the helpers
    _Atomic int stop;
    _Atomic long stolen;       // chunks run outside their own share, for profiles and tests
    unsigned start_gen;
    ck_chunk_fn fn;
    void *ctx;
    int job_parts;             // parts allowed to take chunks (the job's own limit)
    pthread_t threads[CK_POOL_MAX];
    int index[CK_POOL_MAX];
} pool = {.parts = 1};

static void futex_wait(_Atomic unsigned *addr, unsigned seen) {
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}
static void futex_wake_all(_Atomic unsigned *addr) {
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

// Part `part` runs its own share, then the rest of the others'.
static void work(ck_chunk_fn fn, void *ctx, int part, int parts) {
    long stolen = 0;
    for (int i = 0; i < parts; i++) {
        ck_share *s = &shares[(part + i) % parts];
        for (;;) {
            int c = atomic_fetch_add_explicit(&s->next, 1, memory_order_relaxed);
            if (c >= s->end) break;
            fn(ctx, c, part);
            stolen += i > 0;
        }
    }
    if (stolen) atomic_fetch_add_explicit(&pool.stolen, stolen, memory_order_relaxed);
}

static void *helper(void *arg) {
    int part = *(int *)arg;
    // The generation when the helper was created, not when it first runs: a job posted before
    // the thread got going must not be missed.
    unsigned seen = pool.start_gen;
    for (;;) {
        for (int spin = 0; atomic_load_explicit(&pool.gen, memory_order_acquire) == seen; spin++) {
            if (spin < CK_POOL_SPINS) {
                ck_cpu_relax();
            } else {
                atomic_fetch_add(&pool.sleepers, 1);
                futex_wait(&pool.gen, seen);
                atomic_fetch_sub(&pool.sleepers, 1);
            }
        }
        seen = atomic_load(&pool.gen);
        if (atomic_load(&pool.stop)) return NULL;
        // Join, then look: the caller closes the job, then looks. One of the two sees the other (both
        // sequentially consistent), so the caller never returns while a helper that saw the job open
        // still runs a chunk of it; a helper that comes too late runs nothing, and whatever job it sees
        // open is whole (fn, ctx and the shares are written before `open`).
        atomic_fetch_add(&pool.inside, 1);
        if (atomic_load(&pool.open) && part < pool.job_parts) work(pool.fn, pool.ctx, part, pool.job_parts);
        atomic_fetch_sub_explicit(&pool.inside, 1, memory_order_release);
    }
}

static void stop_helpers(void) {
    if (pool.parts <= 1) return;
    atomic_store(&pool.stop, 1);
    atomic_fetch_add(&pool.gen, 1);
    futex_wake_all(&pool.gen);
    for (int i = 1; i < pool.parts; i++) pthread_join(pool.threads[i], NULL);
    atomic_store(&pool.stop, 0);
    pool.parts = 1;
}

int ck_pool_set_threads(int n) {
    if (n < 1) n = 1;
    if (n > CK_POOL_MAX) n = CK_POOL_MAX;
    if (n == pool.parts) return n;
    stop_helpers();
    int started = 1;
    pool.start_gen = atomic_load(&pool.gen);
    for (int i = 1; i < n; i++) {
        pool.index[i] = i;
        if (pthread_create(&pool.threads[i], NULL, helper, &pool.index[i]) != 0) break;
        started++;
    }
    pool.parts = started;
    return started;
}

int ck_pool_parts(void) { return pool.parts; }

int ck_pool_chunks(int units, int parts) {
    int chunks = parts > 1 ? parts * CK_POOL_CHUNKS_PER_PART : 1;
    if (chunks > units) chunks = units;
    return chunks > 1 ? chunks : 1;
}

long ck_pool_stolen_chunks(void) { return atomic_load(&pool.stolen); }

void ck_pool_run(ck_chunk_fn fn, void *ctx, int n_chunks, int max_parts) {
    int parts = pool.parts < max_parts ? pool.parts : max_parts;
    if (parts < 1) parts = 1;
    // One user at a time: a second thread computing at the same moment (two fp32 models in one
    // process) runs every chunk itself, which gives the same result.
    if (parts == 1 || n_chunks <= 1 || atomic_exchange(&pool.busy, 1)) {
        for (int c = 0; c < n_chunks; c++) fn(ctx, c, 0);
        return;
    }
    pool.fn = fn;
    pool.ctx = ctx;
    pool.job_parts = parts;
    for (int p = 0; p < parts; p++) {
        atomic_store_explicit(&shares[p].next, (int)((long)n_chunks * p / parts), memory_order_relaxed);
        shares[p].end = (int)((long)n_chunks * (p + 1) / parts);
    }
    atomic_store(&pool.open, 1);
    atomic_fetch_add(&pool.gen, 1);
    if (atomic_load(&pool.sleepers) > 0) futex_wake_all(&pool.gen);
    work(fn, ctx, 0, parts);
    // Every chunk is claimed; wait only for helpers still running one.
    atomic_store(&pool.open, 0);
    while (atomic_load(&pool.inside) != 0) ck_cpu_relax();
    atomic_store(&pool.busy, 0);
}

typedef struct {
    int n, *runs, *part_of;
    _Atomic int done, held, gave_up;
} check_job;

static void check_chunk(void *ctx, int chunk, int part) {
    check_job *j = ctx;
    j->runs[chunk] += 1;
    j->part_of[chunk] = part;
    if (part > 0 && atomic_exchange(&j->held, 1) == 0) {
        // Hold this helper until the caller has done every other chunk (its share and the rest of this one's).
        long spins = 0;
        while (atomic_load(&j->done) < j->n - 1)
            if (++spins > 1000000000L) {
                atomic_store(&j->gave_up, 1);
                break;
            } else {
                ck_cpu_relax();
            }
    }
    atomic_fetch_add(&j->done, 1);
}

long ck_pool_check(int n_chunks, int *runs, int *part_of) {
    if (n_chunks < 1 || n_chunks > 4096) return -1;
    check_job job = {n_chunks, runs, part_of};
    long before = ck_pool_stolen_chunks();
    ck_pool_run(check_chunk, &job, n_chunks, pool.parts);
    return atomic_load(&job.gave_up) ? -1 : ck_pool_stolen_chunks() - before;
}
