// Does a second write + fdatasync started while the first is in flight cut the per-record tail?
// An open-loop producer appends RECORD_BYTES records at RATE/s (on schedule) to a preallocated,
// already written file; FLUSHERS threads each take every record not yet taken (group commit),
// pwrite them and fdatasync. A record is acked once its own sync and every earlier one finished
// (prefix order, as the log must). FLUSHERS=1 is today's group commit: one sync in flight.
// Latency: scheduled arrival → ack. Build: gcc -O2 -pthread overlap-sync.c -o overlap-sync
// Run: ./overlap-sync <dir> <rate> <seconds> <flushers> [hedge-ms]: with hedge-ms, a second sync starts
// only once the oldest in flight has run that long (the disk is congested), never on a quiet disk.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RECORD_BYTES 250
#define FILE_BYTES (256L << 20)

static int fd;
static long total;
static double *arrivalNs, *ackNs;
static long arrived, taken, acked; // records [0, arrived) exist; [0, taken) are in a batch; [0, acked) acked
static long batchFirst[1 << 16], batchEnd[1 << 16];
static int batchDone[1 << 16];
static long batchHead, batchTail; // ring of batches in take order
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER;
static int finished;
static double syncMs[1 << 20];
static double hedgeNs; // 0: start a sync whenever a flusher is free; else only once the oldest in flight is this old
static int inFlight;
static double flightStartNs[64];

static double oldestInFlightNs(void) {
  double oldest = 0;
  for (int i = 0; i < 64; i++) if (flightStartNs[i] > 0 && (oldest == 0 || flightStartNs[i] < oldest)) oldest = flightStartNs[i];
  return oldest;
}
static long syncs;

static double nowNs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static void *flusher(void *self) {
  int me = (int)(long)self;
  char buffer[RECORD_BYTES * 4096];
  memset(buffer, 'x', sizeof buffer);
  pthread_mutex_lock(&mu);
  for (;;) {
    for (;;) {
      if (taken == arrived && finished) break;
      if (taken < arrived && (inFlight == 0 || hedgeNs == 0)) break;
      if (taken < arrived && nowNs() - oldestInFlightNs() >= hedgeNs) break;
      if (taken < arrived) {
        double until = oldestInFlightNs() + hedgeNs;
        struct timespec t = { (time_t)(until / 1e9), (long)((long long)until % 1000000000LL) };
        struct timespec r;
        clock_gettime(CLOCK_REALTIME, &r); // condvars wait on CLOCK_REALTIME: convert the deadline
        double delta = until - nowNs();
        double target = r.tv_sec * 1e9 + r.tv_nsec + (delta > 0 ? delta : 0);
        t.tv_sec = (time_t)(target / 1e9);
        t.tv_nsec = (long)((long long)target % 1000000000LL);
        pthread_cond_timedwait(&more, &mu, &t);
      } else {
        pthread_cond_wait(&more, &mu);
      }
    }
    if (taken == arrived && finished) break;
    inFlight++;
    flightStartNs[me] = nowNs();
    long first = taken, end = arrived;
    if (end - first > 4096) end = first + 4096;
    taken = end;
    long slot = batchTail++ & 0xffff;
    batchFirst[slot] = first;
    batchEnd[slot] = end;
    batchDone[slot] = 0;
    pthread_mutex_unlock(&mu);
    if (pwrite(fd, buffer, (end - first) * RECORD_BYTES, first * RECORD_BYTES) < 0) perror("pwrite"), exit(1);
    double syncStart = nowNs();
    if (fdatasync(fd) < 0) perror("fdatasync"), exit(1);
    double syncEnd = nowNs();
    pthread_mutex_lock(&mu);
    inFlight--;
    flightStartNs[me] = 0;
    pthread_cond_broadcast(&more);
    if (syncs < (1 << 20)) syncMs[syncs++] = (syncEnd - syncStart) / 1e6;
    batchDone[slot] = 1;
    double t = nowNs();
    while (batchHead < batchTail && batchDone[batchHead & 0xffff]) {
      long s = batchHead++ & 0xffff;
      for (long i = batchFirst[s]; i < batchEnd[s]; i++) ackNs[i] = t;
      acked = batchEnd[s];
    }
  }
  pthread_mutex_unlock(&mu);
  return NULL;
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) return fprintf(stderr, "usage: %s dir rate seconds flushers [hedge-ms]\n", argv[0]), 2;
  hedgeNs = argc == 6 ? atof(argv[5]) * 1e6 : 0;
  double rate = atof(argv[2]);
  total = (long)(rate * atof(argv[3]));
  int flushers = atoi(argv[4]);
  char path[4096];
  snprintf(path, sizeof path, "%s/overlap-sync.dat", argv[1]);
  fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return perror("open"), 1;
  if (fallocate(fd, 0, 0, FILE_BYTES) < 0) return perror("fallocate"), 1;
  // Written once and synced, so no write converts an unwritten extent (the log writes zeros ahead).
  static char zeros[1 << 20];
  for (long off = 0; off < FILE_BYTES && off < total * RECORD_BYTES + (1 << 20); off += sizeof zeros) pwrite(fd, zeros, sizeof zeros, off);
  fsync(fd);
  arrivalNs = calloc(total, sizeof(double));
  ackNs = calloc(total, sizeof(double));
  pthread_t threads[64];
  for (int i = 0; i < flushers; i++) pthread_create(&threads[i], NULL, flusher, (void *)(long)i);
  double start = nowNs() + 1e6;
  for (long i = 0; i < total; i++) {
    double due = start + i * 1e9 / rate;
    struct timespec t = { (time_t)(due / 1e9), (long)((long long)due % 1000000000LL) };
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
    pthread_mutex_lock(&mu);
    arrivalNs[i] = due;
    arrived = i + 1;
    pthread_cond_signal(&more);
    pthread_mutex_unlock(&mu);
  }
  pthread_mutex_lock(&mu);
  finished = 1;
  pthread_cond_broadcast(&more);
  pthread_mutex_unlock(&mu);
  for (int i = 0; i < flushers; i++) pthread_join(threads[i], NULL);
  double *latency = calloc(total, sizeof(double));
  long over2 = 0;
  for (long i = 0; i < total; i++) {
    latency[i] = (ackNs[i] - arrivalNs[i]) / 1e6;
    if (latency[i] > 2) over2++;
  }
  qsort(latency, total, sizeof(double), compare);
  printf("rate %.0f/s flushers %d hedge %.1f ms: n %ld batches %ld  p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms  >2ms %.2f%%\n", rate, flushers, hedgeNs / 1e6,
         total, batchTail, latency[total / 2], latency[total * 99 / 100], latency[total * 999 / 1000], latency[total - 1],
         100.0 * over2 / total);
  qsort(syncMs, syncs, sizeof(double), compare);
  printf("  fdatasync alone: p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms\n", syncMs[syncs / 2], syncMs[syncs * 99 / 100],
         syncMs[syncs * 999 / 1000], syncMs[syncs - 1]);
  close(fd);
  unlink(path);
  return 0;
}
