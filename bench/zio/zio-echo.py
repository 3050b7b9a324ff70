#!/usr/bin/python3
"""zio-echo benchmark: echo server making N copies per message, plain Linux
vs. the same binary under libzio, side by side in one run.

Sweeps (medians of --reps runs each, Linux and libzio alternating):
  copies 0..12 at 512 KB; sizes 8 KB..1 MB at 0 and 5 copies; touched-bytes
  ratio 0..20% at 512 KB and 5 copies (the break-even curve).
Writes bench/results/zio-echo.json and zio-echo-*.png, prints a table.
usage: zio-echo.py [--build DIR] [--quick] [--reps N]
ZIO_* variables in the environment (e.g. ZIO_ALIGN_ALLOC=1) apply to the
libzio runs and are recorded in the JSON.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KB = 1024


def run_point(args, size, copies, permille, zio, port):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if zio:
        env["LD_PRELOAD"] = args.libzio
    server = subprocess.Popen([args.server, str(port), str(size), str(copies), str(permille)],
                              env=env, stdout=subprocess.PIPE, text=True)
    try:
        if server.stdout.readline().strip() != "ready":
            raise RuntimeError("server did not start")
        # About 128 MB per point, at least 50 messages.
        count = max(50, (args.volume << 20) // size)
        out = subprocess.run([args.client, str(port), str(size), str(count)],
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError("client failed: " + out.stderr)
        result = json.loads(out.stdout)
        # Throughput on a shared machine follows its load; the CPU time the
        # server spent per message much less so.  The server reports it
        # when the client hangs up.
        line = server.stdout.readline().split()
        if len(line) != 2 or line[0] != "cpu_us":
            raise RuntimeError("server did not report its CPU time")
        result["server_cpu_us_per_msg"] = float(line[1]) / count
        return result
    finally:
        server.kill()
        server.wait()


def measure(args, size, copies, permille, port_box):
    result = {}
    all_runs = {"linux": [], "zio": []}
    # Alternating, so that a change in the machine's load lands on both.
    for _ in range(args.reps):
        for name, zio in (("linux", False), ("zio", True)):
            port_box[0] += 1
            all_runs[name].append(run_point(args, size, copies, permille, zio,
                                            17000 + port_box[0] % 2000))
    for name, runs in all_runs.items():
        result[name] = {
            "msgs_per_s": statistics.median(r["msgs_per_s"] for r in runs),
            "median_rtt_us": statistics.median(r["median_rtt_us"] for r in runs),
            "server_cpu_us_per_msg": statistics.median(r["server_cpu_us_per_msg"] for r in runs),
            "runs": runs,
        }
    result["ratio"] = result["zio"]["msgs_per_s"] / result["linux"]["msgs_per_s"]
    result["cpu_ratio"] = (result["zio"]["server_cpu_us_per_msg"] /
                           result["linux"]["server_cpu_us_per_msg"])
    return result


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--reps", type=int, default=None)
    args = p.parse_args()
    args.server = os.path.join(args.build, "bench", "zio", "zio-echo-server")
    args.client = os.path.join(args.build, "bench", "zio", "zio-echo-client")
    args.libzio = os.path.join(args.build, "libzio", "libzio.so")
    for f in (args.server, args.client, args.libzio):
        if not os.path.exists(f):
            sys.exit("missing %s: build first (meson compile -C %s)" % (f, args.build))
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    args.volume = 48 if args.quick else 128

    if args.quick:
        copies = [0, 1, 5, 12]
        sizes = [8 * KB, 64 * KB, 512 * KB, 1024 * KB]
        touches = [0, 60, 200]
    else:
        copies = list(range(13))
        sizes = [8 * KB, 16 * KB, 32 * KB, 64 * KB, 128 * KB, 256 * KB, 512 * KB, 1024 * KB]
        touches = [0, 20, 40, 60, 80, 100, 150, 200]

    port_box = [0]
    results = {"machine": "%s, %d cores" % (platform.node(), os.cpu_count()),
               "date": time.strftime("%Y-%m-%d %H:%M:%S"), "reps": args.reps,
               "zio_env": {k: v for k, v in os.environ.items() if k.startswith("ZIO_")},
               "copies": [], "sizes": [], "touch": []}
    rows = []
    for c in copies:
        r = measure(args, 512 * KB, c, 0, port_box)
        results["copies"].append(dict(size=512 * KB, copies=c, **r))
        rows.append(("copies", "512K", c, 0, r))
    for c in (0, 5):
        for s in sizes:
            r = measure(args, s, c, 0, port_box)
            results["sizes"].append(dict(size=s, copies=c, **r))
            rows.append(("size", "%dK" % (s // KB), c, 0, r))
    for t in touches:
        r = measure(args, 512 * KB, 5, t, port_box)
        results["touch"].append(dict(size=512 * KB, copies=5, touch_permille=t, **r))
        rows.append(("touch", "512K", 5, t, r))

    outdir = os.path.join(ROOT, "bench", "results")
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "zio-echo.json"), "w") as f:
        json.dump(results, f, indent=1)

    print("zio-echo (%s, median of %d): messages/s" % (results["machine"], args.reps))
    print("messages/s and, right, server CPU us per message")
    print("%-7s %6s %6s %7s %10s %10s %7s %8s %8s %7s" % ("sweep", "size", "copies", "touch%",
          "linux", "zio", "ratio", "cpu:lnx", "cpu:zio", "ratio"))
    for sweep, size, c, t, r in rows:
        print("%-7s %6s %6d %7.1f %10.1f %10.1f %6.2fx %8.1f %8.1f %6.2fx" % (
              sweep, size, c, t / 10, r["linux"]["msgs_per_s"], r["zio"]["msgs_per_s"], r["ratio"],
              r["linux"]["server_cpu_us_per_msg"], r["zio"]["server_cpu_us_per_msg"],
              r["cpu_ratio"]))
    plot(results, outdir)


def plot(results, outdir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plots")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [r["copies"] for r in results["copies"]]
    ax.plot(xs, [r["linux"]["msgs_per_s"] for r in results["copies"]], "o-", label="Linux")
    ax.plot(xs, [r["zio"]["msgs_per_s"] for r in results["copies"]], "s-", label="zIO")
    ax.set(xlabel="copies per message", ylabel="messages/s", title="zio-echo, 512 KB messages")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "zio-echo-copies.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    for c in (0, 5):
        pts = [r for r in results["sizes"] if r["copies"] == c]
        ax.plot([r["size"] // 1024 for r in pts], [r["ratio"] for r in pts], "o-",
                label="%d copies" % c)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set(xlabel="message size (KB)", ylabel="zIO / Linux throughput", title="zio-echo by size")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "zio-echo-sizes.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["touch_permille"] / 10 for r in results["touch"]],
            [r["ratio"] for r in results["touch"]], "o-")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set(xlabel="touched bytes (%)", ylabel="zIO / Linux throughput",
           title="zio-echo break-even, 512 KB, 5 copies")
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "zio-echo-touch.png"))


if __name__ == "__main__":
    main()
