// Thread placement for the two Mirror-SD workers (Linux); a no-op elsewhere.
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include "CKernels.h"

int ck_pin_current_thread(int cpu) {
#if defined(__linux__)
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpu < 0 || cpu >= n || cpu >= CPU_SETSIZE) return -1;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0 ? 0 : -1;
#else
    (void)cpu;
    return -1;
#endif
}

int ck_online_cpus(void) { return (int)sysconf(_SC_NPROCESSORS_ONLN); }

void ck_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}
