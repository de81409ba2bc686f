"""Runs a command as a child of this small process and reports its rusage, like /usr/bin/time.

  launch.py <report.json> <command> [args...]

Why a launcher: Linux carries a process's peak RSS across exec, and a child created by fork or vfork
starts from its parent's resident set, so a tool spawned straight from the benchmark process (hundreds of
MB with sharp and the images loaded) would report at least that much. Forked from here, the floor is this
interpreter's few MB (bench/ reports it). stdin, stdout and stderr pass through untouched.
"""

import json
import os
import sys
import time


def main():
    report, argv = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = (time.perf_counter() - started) * 1000
    code = os.waitstatus_to_exitcode(status)
    if report != "-":
        with open(report, "w") as handle:
            json.dump({
                "wall_ms": wall,
                "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1000,
                "max_rss_kb": usage.ru_maxrss,
                "returncode": code,
            }, handle)
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
