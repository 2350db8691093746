/* LD_PRELOAD shim: every fsync/fdatasync first sleeps SLOW_FSYNC_US microseconds
 * (default 10000), then really syncs. It stands in for a slow disk so that
 * bench/run.py can show what group commit saves. Built by bench/run.py with gcc. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

static useconds_t delay(void) {
    const char *text = getenv("SLOW_FSYNC_US");
    return text ? (useconds_t)atoi(text) : 10000;
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    usleep(delay());
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    usleep(delay());
    return real(fd);
}
