"""The `perf script --ns -F comm,pid,tid,time,event,trace` text of
scheduler (and, when recorded, raw system-call) tracepoints, read once for
bench/startpair.sh and bench/confcost.sh: which commands were started, the
processes each one made, their CPU time (sched_stat_runtime), the wall time
from exec to exit, and how long each system call took."""
import collections
import re

_TIME = re.compile(r"^\d+\.\d+:$")


class Trace:
    def __init__(self, path, kinds):
        """`kinds` maps the end of an executed file's name to its label;
        `starts` lists (label, pid) of each such exec, in order."""
        self.runtime = collections.Counter()  # pid -> ns
        self.starts = []
        self.began, self.ended = {}, {}  # pid -> time of its exec, of its exit
        self.children = collections.defaultdict(list)
        self.by_pid = collections.defaultdict(lambda: collections.defaultdict(list))
        enter = {}  # tid -> (nr, time, pid)
        for line in open(path):
            p = line.split()
            i = next((k for k, x in enumerate(p) if _TIME.match(x)), None)
            if i is None:
                continue
            pid = int(p[i - 1].split("/")[0])
            tid = p[i - 1].split("/")[-1]
            t, ev = float(p[i][:-1]), p[i + 1]
            f = dict(x.split("=", 1) for x in p[i + 2:] if "=" in x)
            if ev == "sched:sched_stat_runtime:":
                self.runtime[int(f["pid"])] += int(f["runtime"])
            elif ev == "sched:sched_process_fork:":
                self.children[int(f["pid"])].append(int(f["child_pid"]))
            elif ev == "sched:sched_process_exec:":
                k = next((v for s, v in kinds.items() if f["filename"].endswith(s)), None)
                if k:
                    self.starts.append((k, int(f["pid"])))
                    self.began[int(f["pid"])] = t
            elif ev == "sched:sched_process_exit:":
                self.ended[int(f["pid"])] = t
            elif ev == "raw_syscalls:sys_enter:":
                enter[tid] = (int(p[i + 3]), t, pid)
            elif ev == "raw_syscalls:sys_exit:" and tid in enter:
                nr, t0, p0 = enter.pop(tid)
                self.by_pid[p0][nr].append((t - t0) * 1e6)

    def tree(self, pid):
        """`pid` and every process it and they forked."""
        out, todo = [], [pid]
        while todo:
            q = todo.pop()
            out.append(q)
            todo += self.children[q]
        return out

    def cpu_ms(self, pid):
        return sum(self.runtime[x] for x in self.tree(pid)) / 1e6

    def wall_ms(self, pid):
        """From `pid`'s exec to its exit: only for a start from `rounds`."""
        return (self.ended[pid] - self.began[pid]) * 1e3

    def rounds(self, size):
        """`starts` in rounds of `size` (the benchmarks start their commands
        in turn and compare neighbours), leaving out each round in which a
        start's exit event was lost (perf drops events when its buffer
        fills): that start's wall time is unknown and its CPU time short,
        and dropping the start alone would pair the wrong neighbours.
        Returns the whole rounds and how many starts were skipped."""
        whole, skipped = [], 0
        for k in range(0, len(self.starts) - size + 1, size):
            r = self.starts[k:k + size]
            if all(pid in self.ended for _, pid in r):
                whole.append(r)
            else:
                skipped += size
        return whole, skipped + len(self.starts) % size

    def calls(self, pid, into):
        """Adds the durations (us) of the system calls of `pid`'s tree to
        `into`, by call number."""
        for q in self.tree(pid):
            for nr, ds in self.by_pid.get(q, {}).items():
                into[nr] += ds


def syscall_names():
    """Call number -> name, from the kernel headers when installed."""
    names = {}
    for hdr in ("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm/unistd_64.h"):
        try:
            for line in open(hdr):
                m = re.match(r"#define __NR_(\w+) (\d+)", line)
                if m:
                    names[int(m.group(2))] = m.group(1)
            break
        except OSError:
            pass
    return names
