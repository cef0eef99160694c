/* A tiny static probe the confinement tests run inside containers: it makes
 * one raw system call and prints "NAME ok" or "NAME ERRNO-NAME", so tests do
 * not depend on keyctl, strace or other tools being in the image. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const char *name(int e) {
  switch (e) {
  case EPERM: return "EPERM";
  case ENOSYS: return "ENOSYS";
  case ESRCH: return "ESRCH";
  case EACCES: return "EACCES";
  case EINVAL: return "EINVAL";
  case ENOENT: return "ENOENT";
  default: return "other";
  }
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
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
