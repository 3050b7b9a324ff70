#!/usr/bin/python3
"""zio-redis benchmark: Debian's redis-server with and without libzio.

For each value size (4 KB..1 MB), side by side in one run:
  SET    redis-benchmark -t set with AOF on (appendfsync no), 50 clients;
  YCSB-A 50/50 SET/GET: two redis-benchmark processes (SET and GET, 25
         clients each) on the same 100-key space at once, AOF on.
Medians of --reps runs, Linux and libzio alternating, requests/s.  Writes bench/results/zio-redis.json and
zio-redis.png, prints a table with ratios.
The AOF goes to tmpfs (/dev/shm) unless --aof-dir names another place: on
a disk, the page cache's writeback throttles whichever run meets it, and
512 KB runs of one configuration swung by 3x.
usage: zio-redis.py [--build DIR] [--quick] [--reps N] [--aof-dir DIR]
ZIO_* variables in the environment (e.g. ZIO_ALIGN_ALLOC=1) apply to the
libzio runs and are recorded in the JSON.
"""
import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KB = 1024


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except ConnectionRefusedError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def start_server(port, zio_run, workdir):
    cmd = ([zio_run] if zio_run else []) + [
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir,
        "--save", "", "--appendonly", "yes", "--appendfsync", "no",
        "--auto-aof-rewrite-percentage", "0", "--protected-mode", "no",
        "--logfile", os.path.join(workdir, "log")]
    proc = subprocess.Popen(cmd)
    wait_port(port)
    return proc


def bench(port, test, size, n, clients):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", test, "-n", str(n),
                          "-r", "100", "-d", str(size), "-c", str(clients), "-q"],
                         capture_output=True, text=True, check=True).stdout
    return float(re.findall(r"([\d.]+) requests per second", out)[-1])

def run_workload(port, workload, size, n):
    if workload == "set":
        return bench(port, "set", size, n, 50)
    # YCSB-A: half SET, half GET, concurrently on the same keys.
    procs = [subprocess.Popen(["redis-benchmark", "-p", str(port), "-t", t, "-n", str(n // 2),
                               "-r", "100", "-d", str(size), "-c", "25", "-q"],
                              stdout=subprocess.PIPE, text=True) for t in ("set", "get")]
    start = time.time()
    for p in procs:
        p.communicate()
        if p.returncode:
            raise RuntimeError("redis-benchmark failed")
    return n / (time.time() - start)


def measure(args, workload, size, zio, port):
    workdir = tempfile.mkdtemp(prefix="zio-redis-bench-", dir=args.aof_dir)
    server = start_server(port, args.zio_run if zio else None, workdir)
    try:
        n = max(400, (args.volume << 20) // size)
        bench(port, "set", size, min(n, 2000), 50)      # warm up, fill the keys
        return run_workload(port, workload, size, n)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(workdir)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--reps", type=int, default=None)
    p.add_argument("--aof-dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                   help="where redis-server keeps its AOF (default: /dev/shm)")
    args = p.parse_args()
    args.zio_run = os.path.join(args.build, "tools", "zio", "zio-run")
    if not os.path.exists(args.zio_run) or not shutil.which("redis-benchmark"):
        sys.exit("need %s and redis-server/redis-benchmark" % args.zio_run)
    args.reps = args.reps or (1 if args.quick else 3)
    args.volume = 96 if args.quick else 384
    sizes = [1 * KB, 4 * KB, 64 * KB, 512 * KB] if args.quick else \
        [1 * KB, 4 * KB, 16 * KB, 64 * KB, 256 * KB, 512 * KB, 1024 * KB]

    results = {"machine": "%s, %d cores" % (platform.node(), os.cpu_count()),
               "date": time.strftime("%Y-%m-%d %H:%M:%S"), "reps": args.reps, "points": [],
               "aof_dir": args.aof_dir or tempfile.gettempdir(),
               "zio_env": {k: v for k, v in os.environ.items() if k.startswith("ZIO_")}}
    port = 21000 + os.getpid() % 5000
    for workload in ("set", "ycsb-a"):
        for size in sizes:
            point = {"workload": workload, "size": size}
            runs = {"linux": [], "zio": []}
            # Alternating, so that a change in the machine's load or in the
            # page cache's writeback lands on both sides alike.
            for _ in range(args.reps):
                for name, zio in (("linux", False), ("zio", True)):
                    port += 1
                    runs[name].append(measure(args, workload, size, zio, port))
            for name, r in runs.items():
                point[name] = {"requests_per_s": statistics.median(r), "runs": r}
            point["ratio"] = point["zio"]["requests_per_s"] / point["linux"]["requests_per_s"]
            results["points"].append(point)

    outdir = os.path.join(ROOT, "bench", "results")
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "zio-redis.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("zio-redis (%s, median of %d): requests/s, AOF on" % (results["machine"], args.reps))
    print("%-7s %6s %12s %12s %7s" % ("load", "value", "linux", "zio", "ratio"))
    for pt in results["points"]:
        print("%-7s %5dK %12.0f %12.0f %6.2fx" % (pt["workload"], pt["size"] // KB,
              pt["linux"]["requests_per_s"], pt["zio"]["requests_per_s"], pt["ratio"]))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for workload in ("set", "ycsb-a"):
        pts = [pt for pt in results["points"] if pt["workload"] == workload]
        ax.plot([pt["size"] // KB for pt in pts], [pt["ratio"] for pt in pts], "o-", label=workload)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set(xlabel="value size (KB)", ylabel="zIO / Linux throughput", title="redis-server, AOF on")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "zio-redis.png"))


if __name__ == "__main__":
    main()
