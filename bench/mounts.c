/* What the mounts of a container's masks and read-only paths cost: each
 * child of a loop enters a new mount namespace, mounts a procfs and makes
 * one kind of mount over its paths, then exits (its namespace, and so
 * every mount, torn down in its exit, counted in its CPU time). Kinds, one
 * per argument after the first two (runs per round, rounds); `-` mounts
 * nothing, the others are measured against it:
 *   f  /dev/null bound over 3 files (interrupts, keys, timer_list)
 *   t  an empty read-only tmpfs over /proc/acpi
 *   b  4 directories (bus, fs, irq, sys) bound over themselves
 *   r  the same, then remounted read-only (mount(2) twice each)
 *   o  the same read-only, by open_tree + mount_setattr + move_mount
 *   a  the same read-only, by open_tree_attr + move_mount (Linux 6.15; what
 *      hutch does)
 * Run by bench/mounts.sh inside `unshare -rpf` (a user and a pid
 * namespace, so that procfs can be mounted). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_KINDS 16
#define MAX_ROUNDS 64

static char proc_dir[4096];
/* The children's time in their mount calls, summed (they run one at a time). */
static double *in_calls;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what) {
  perror(what);
  _exit(1);
}

static void child(const char *kind) {
  const char *file_names[] = {"interrupts", "keys", "timer_list"};
  const char *dir_names[] = {"bus", "fs", "irq", "sys"};
  char files[3][4200], dirs[4][4200], acpi[4200];
  /* The paths are made, and the child's stack faulted in, before the clock. */
  for (int i = 0; i < 3; i++) snprintf(files[i], sizeof files[i], "%s/%s", proc_dir, file_names[i]);
  for (int i = 0; i < 4; i++) snprintf(dirs[i], sizeof dirs[i], "%s/%s", proc_dir, dir_names[i]);
  snprintf(acpi, sizeof acpi, "%s/acpi", proc_dir);
  if (unshare(CLONE_NEWNS)) die("unshare");
  if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL)) die("make / private");
  if (mount("proc", proc_dir, "proc", 0, NULL)) die("mount proc");
  double start = now();
  if (strchr(kind, 'f'))
    for (int i = 0; i < 3; i++)
      if (mount("/dev/null", files[i], NULL, MS_BIND, NULL)) die(files[i]);
  if (strchr(kind, 't'))
    if (mount("tmpfs", acpi, "tmpfs", MS_RDONLY, "mode=555")) die(acpi);
  for (int i = 0; i < 4; i++) {
    const char *d = dirs[i];
    if (strchr(kind, 'b') || strchr(kind, 'r'))
      if (mount(d, d, NULL, MS_BIND, NULL)) die(d);
    if (strchr(kind, 'r'))
      if (mount(NULL, d, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL)) die(d);
    if (strchr(kind, 'o')) {
      struct { unsigned long long set, clear, propagation, userns; } ro = {1, 0, 0, 0};
      int fd = syscall(SYS_open_tree, AT_FDCWD, d, 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC);
      if (fd < 0) die("open_tree");
      if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &ro, sizeof ro)) die("mount_setattr");
      if (syscall(SYS_move_mount, fd, "", AT_FDCWD, d, 4 /* MOVE_MOUNT_F_EMPTY_PATH */))
        die("move_mount");
      close(fd);
    }
    if (strchr(kind, 'a')) {
      struct { unsigned long long set, clear, propagation, userns; } ro = {1, 0, 0, 0};
      int fd = syscall(467 /* open_tree_attr */, AT_FDCWD, d, 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC,
                       &ro, sizeof ro);
      if (fd < 0) die("open_tree_attr");
      if (syscall(SYS_move_mount, fd, "", AT_FDCWD, d, 4 /* MOVE_MOUNT_F_EMPTY_PATH */))
        die("move_mount");
      close(fd);
    }
  }
  *in_calls += now() - start;
  _exit(0);
}

static double cpu_of_children(void) {
  struct rusage r;
  getrusage(RUSAGE_CHILDREN, &r);
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec +
         r.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 4 || argc - 3 > MAX_KINDS) {
    fprintf(stderr, "usage: %s PROC_DIR RUNS ROUNDS KIND...\n", argv[0]);
    return 2;
  }
  snprintf(proc_dir, sizeof proc_dir, "%s", argv[1]);
  int runs = atoi(argv[2]), rounds = atoi(argv[3]), kinds = argc - 4;
  if (runs < 1 || rounds < 2 || rounds > MAX_ROUNDS || kinds < 1) {
    fprintf(stderr, "RUNS >= 1, 2 <= ROUNDS <= %d, at least one KIND\n", MAX_ROUNDS);
    return 2;
  }
  char **kind = argv + 4;
  in_calls = mmap(NULL, sizeof *in_calls, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (in_calls == MAP_FAILED) die("mmap");
  static double cpu[MAX_KINDS][MAX_ROUNDS], calls[MAX_KINDS];
  for (int r = 0; r < rounds; r++)
    for (int k = 0; k < kinds; k++) {
      int j = r % 2 ? kinds - 1 - k : k; /* every other round in reverse */
      *in_calls = 0;
      double before = cpu_of_children();
      for (int i = 0; i < runs; i++) {
        pid_t pid = fork();
        if (pid == 0) child(kind[j]);
        int status;
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || status != 0) {
          fprintf(stderr, "kind %s: a child failed\n", kind[j]);
          return 1;
        }
      }
      cpu[j][r] = (cpu_of_children() - before) / runs * 1e6;
      calls[j] += *in_calls / runs * 1e6 / rounds;
    }
  for (int j = 0; j < kinds; j++) {
    double sum = 0, sq = 0;
    for (int r = 0; r < rounds; r++) sum += cpu[j][r] - cpu[0][r];
    double mean = sum / rounds;
    for (int r = 0; r < rounds; r++) sq += pow(cpu[j][r] - cpu[0][r] - mean, 2);
    printf("%-4s CPU a child against %s: %+7.1f ± %5.1f us; in its mount calls %6.1f us\n", kind[j],
           kind[0], mean, sqrt(sq / (rounds - 1) / rounds), calls[j]);
  }
  return 0;
}
