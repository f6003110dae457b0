// A heap-allocation counter for `mirror-sd count-allocations`, loaded with LD_PRELOAD (glibc): every
// allocation entry point is defined here and forwards to glibc's own (__libc_*), so nothing recurses
// and nothing changes but a counter. Build: cc -O2 -shared -fPIC -o libmsd-alloccount.so alloccount.c
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);
extern void __libc_free(void *);

static _Atomic long allocations;
static _Atomic int counting;

static inline void count(void) {
    if (atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
}

void *malloc(size_t n) { count(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { count(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { count(); return __libc_realloc(p, n); }
void *memalign(size_t al, size_t n) { count(); return __libc_memalign(al, n); }
void *aligned_alloc(size_t al, size_t n) { count(); return __libc_memalign(al, n); }
void *valloc(size_t n) { count(); return __libc_valloc(n); }
void *pvalloc(size_t n) { count(); return __libc_pvalloc(n); }
int posix_memalign(void **out, size_t al, size_t n) {
    count();
    if (al < sizeof(void *) || (al & (al - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(al, n);
    if (!p && n) return ENOMEM;
    *out = p;
    return 0;
}
void free(void *p) { __libc_free(p); }

// The interface the CLI finds with dlsym.
void mirrorsd_alloc_counting(int on) { atomic_store(&counting, on); }
long mirrorsd_alloc_count(void) { return atomic_load(&allocations); }
