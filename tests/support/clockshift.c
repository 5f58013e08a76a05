/* LD_PRELOAD shim for tests: adds an offset to the wall clock of one process.
 *
 * The offset, in seconds (a decimal number, may be negative), is read from the file named by
 * $CLOCKSHIFT_FILE, at most every 20 ms of monotonic time. Only the wall clock moves:
 * clock_gettime(CLOCK_REALTIME[_COARSE]), gettimeofday() and time(). CLOCK_MONOTONIC,
 * CLOCK_BOOTTIME and every sleep and timed wait are untouched, as on a real machine whose
 * clock is stepped (libfaketime cannot do this: with FAKETIME_DONT_FAKE_MONOTONIC=1 its
 * time.sleep fails with EINVAL).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static clock_gettime_fn real_clock_gettime;
static long long offset_ns;   /* read and written with __atomic builtins */
static long long checked_ns = -1000000000LL;

static clock_gettime_fn real(void) {
    clock_gettime_fn fn = __atomic_load_n(&real_clock_gettime, __ATOMIC_ACQUIRE);
    if (fn == NULL) {
        fn = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
        __atomic_store_n(&real_clock_gettime, fn, __ATOMIC_RELEASE);
    }
    return fn;
}

static long long offset(void) {
    struct timespec now;
    real()(CLOCK_MONOTONIC, &now);
    long long now_ns = now.tv_sec * 1000000000LL + now.tv_nsec;
    if (now_ns - __atomic_load_n(&checked_ns, __ATOMIC_RELAXED) >= 20000000LL) {
        __atomic_store_n(&checked_ns, now_ns, __ATOMIC_RELAXED);
        const char *path = getenv("CLOCKSHIFT_FILE");
        int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        if (fd >= 0) {
            char text[64];
            ssize_t n = read(fd, text, sizeof text - 1);
            close(fd);
            if (n > 0) {
                text[n] = '\0';
                __atomic_store_n(&offset_ns, (long long)(strtod(text, NULL) * 1e9),
                                 __ATOMIC_RELAXED);
            }
        }
    }
    return __atomic_load_n(&offset_ns, __ATOMIC_RELAXED);
}

static void shift(struct timespec *ts) {
    long long ns = ts->tv_sec * 1000000000LL + ts->tv_nsec + offset();
    ts->tv_sec = ns / 1000000000LL;
    ts->tv_nsec = ns % 1000000000LL;
    if (ts->tv_nsec < 0) {
        ts->tv_nsec += 1000000000LL;
        ts->tv_sec -= 1;
    }
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    int result = real()(id, ts);
    if (result == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
        shift(ts);
    }
    return result;
}

int gettimeofday(struct timeval *tv, void *tz) {
    (void)tz;
    struct timespec ts;
    int result = clock_gettime(CLOCK_REALTIME, &ts);
    if (result == 0) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return result;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out != NULL) {
        *out = ts.tv_sec;
    }
    return ts.tv_sec;
}
