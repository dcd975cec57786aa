// What one small durable append costs on this disk, by how it is written: 188-byte records, one
// write + sync each, N after 200 unmeasured (docs/storage.md, "W1 against a floor"). Modes:
//   0 append to the file (it grows)      1 into fallocated (unwritten) space
//   2 into a pre-written file            3 pre-written, O_DIRECT (the 4 KiB tail block rewritten), fdatasync
//   4 pre-written, O_DIRECT + RWF_DSYNC  5 pre-written, buffered, pwritev2(RWF_DSYNC)
// Build: gcc -O2 sync-options.c -o sync-options. Run: ./sync-options <dir> <mode> [n]
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define RECORD_BYTES 188
#define FILE_BYTES (64L << 20)
#define UNMEASURED 200

static double nowUs(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
static int byValue(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: %s <dir> <mode 0-5> [n]\n", argv[0]); return 2; }
  int mode = atoi(argv[2]), n = argc > 3 ? atoi(argv[3]) : 1500;
  char path[4096]; snprintf(path, sizeof path, "%s/sync-options-%d", argv[1], mode);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) { perror("open"); return 1; }
  if (mode == 1 && fallocate(fd, 0, 0, FILE_BYTES) != 0) { perror("fallocate"); return 1; }
  if (mode >= 2) {
    char *zeros = calloc(1, 1 << 20);
    for (long at = 0; at < FILE_BYTES; at += 1 << 20) if (pwrite(fd, zeros, 1 << 20, at) != 1 << 20) { perror("pwrite"); return 1; }
    fsync(fd);
    free(zeros);
  }
  if (mode == 3 || mode == 4) { close(fd); fd = open(path, O_RDWR | O_DIRECT); if (fd < 0) { perror("open O_DIRECT"); return 1; } }
  void *buffer; if (posix_memalign(&buffer, 4096, 8192) != 0) return 1;
  memset(buffer, 'x', 8192);
  double *latency = malloc(sizeof(double) * n);
  long offset = 0;
  for (int i = 0; i < n + UNMEASURED; i++) {
    double started = nowUs();
    long block = offset & ~4095L, blockLength = ((offset + RECORD_BYTES - block) + 4095) & ~4095L;
    struct iovec whole = { buffer, (size_t)blockLength }, record = { buffer, RECORD_BYTES };
    int failed;
    if (mode <= 2) failed = pwrite(fd, buffer, RECORD_BYTES, offset) != RECORD_BYTES || fdatasync(fd) != 0;
    else if (mode == 3) failed = pwrite(fd, buffer, blockLength, block) != blockLength || fdatasync(fd) != 0;
    else if (mode == 4) failed = pwritev2(fd, &whole, 1, block, RWF_DSYNC) != blockLength;
    else failed = pwritev2(fd, &record, 1, offset, RWF_DSYNC) != RECORD_BYTES;
    if (failed) { perror("write"); return 1; }
    offset += RECORD_BYTES;
    if (i >= UNMEASURED) latency[i - UNMEASURED] = nowUs() - started;
  }
  qsort(latency, n, sizeof(double), byValue);
  static const char *names[] = { "append + fdatasync", "fallocated + fdatasync", "pre-written + fdatasync",
    "pre-written O_DIRECT + fdatasync", "pre-written O_DIRECT RWF_DSYNC", "pre-written buffered RWF_DSYNC" };
  printf("%-34s p50 %6.1f p90 %6.1f p99 %7.1f us\n", names[mode], latency[n / 2], latency[n * 9 / 10], latency[n * 99 / 100]);
  unlink(path);
  return 0;
}
