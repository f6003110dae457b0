// Helper threads for the products of a few rows (ck_matmul_f32, ck_matmul_q8, ck_matmul_q4). They are started by
// ck_blas_set_threads, never on the per-token path. Between products a helper spins for a while
// (a decode step issues ~200 products back to back), then sleeps on a futex.
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

static struct {
    int parts;                 // caller + helpers
    _Atomic unsigned gen;      // bumped once per job; helpers wait for it to change
    _Atomic int pending;       // helpers still on the current job
    _Atomic int sleepers;
    _Atomic int busy;          // a product is using the helpers
    _Atomic int stop;
    unsigned start_gen;
    ck_part_fn fn;
    void *ctx;
    pthread_t threads[CK_POOL_MAX];
    int index[CK_POOL_MAX];
} pool = {.parts = 1};

static void futex_wait(_Atomic unsigned *addr, unsigned seen) {
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}
static void futex_wake_all(_Atomic unsigned *addr) {
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
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
        pool.fn(pool.ctx, part, pool.parts);
        atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_release);
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

void ck_pool_run(ck_part_fn fn, void *ctx) {
    int parts = pool.parts;
    // One user at a time: a second thread computing at the same moment (two fp32 models in one
    // process) runs every part itself, which gives the same result.
    if (parts == 1 || atomic_exchange(&pool.busy, 1)) {
        for (int p = 0; p < parts; p++) fn(ctx, p, parts);
        return;
    }
    pool.fn = fn;
    pool.ctx = ctx;
    atomic_store(&pool.pending, parts - 1);
    atomic_fetch_add(&pool.gen, 1);
    if (atomic_load(&pool.sleepers) > 0) futex_wake_all(&pool.gen);
    fn(ctx, 0, parts);
    while (atomic_load_explicit(&pool.pending, memory_order_acquire) != 0) ck_cpu_relax();
    atomic_store(&pool.busy, 0);
}
