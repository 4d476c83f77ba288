#!/usr/bin/env python3
"""End-to-end word-count benchmarks of docs/BENCHMARKS.md, measured side by side.

  python3 crates/mapreduce/benches/wc_e2e.py bible     # dsys wc vs tr|sort|uniq on data/kjv.txt
  python3 crates/mapreduce/benches/wc_e2e.py big [MB]  # 2 worker processes vs 1-thread baseline

Build first: cargo build --release -p cli -p mapreduce --examples
The big corpus is generated into a temporary directory and deleted afterwards (never committed).
Runs alternate between the contenders so that machine noise hits both alike; medians reported.
"""
import os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
REL = os.path.join(ROOT, "target", "release")
DSYS = os.path.join(REL, "dsys")


def timed(cmd, **kw):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, **kw)
    return time.perf_counter() - start


def bible(rounds=21):
    kjv = os.path.join(ROOT, "data", "kjv.txt")
    tmp = tempfile.mkdtemp()
    out = os.path.join(tmp, "out.wc")
    contenders = {
        "dsys wc (in-process, 1 thread per core)": [DSYS, "wc", kjv, "-o", out, "-q"],
        "dsys wc --sequential": [DSYS, "wc", kjv, "-o", out, "-q", "--sequential"],
        "tr -cs A-Za-z '\\n' | sort | uniq -c": f"tr -cs 'A-Za-z' '\\n' < {kjv} | sort | uniq -c > {tmp}/tr.out",
    }
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, cmd in contenders.items():
            times[name].append(timed(cmd, shell=isinstance(cmd, str)))
    shutil.rmtree(tmp)
    base = statistics.median(times["tr -cs A-Za-z '\\n' | sort | uniq -c"])
    for name, xs in times.items():
        med = statistics.median(xs)
        print(f"{name:45s} median {med*1e3:7.1f} ms  min {min(xs)*1e3:7.1f} ms  speed-up vs pipeline {base/med:5.1f}x")


def peak_kb(stderr_text, label):
    for line in stderr_text.splitlines():
        if line.startswith(label) and line.endswith(" KB"):
            return int(line.split()[-2])
    return -1


def big(mb=1024, rounds=5):
    tmp = tempfile.mkdtemp(prefix="dsys-bench-")
    try:
        corpus = os.path.join(tmp, "corpus.txt")
        subprocess.run([os.path.join(REL, "examples", "gen_corpus"), str(mb), corpus], check=True)
        size = os.path.getsize(corpus)
        print(f"corpus: {size/1e6:.0f} MB in {tmp}")
        base_t, dist_t, mem = [], [], []
        for r in range(rounds):
            base_out = os.path.join(tmp, "base.out")
            start = time.perf_counter()
            p = subprocess.run(["/usr/bin/time", "-f", "baseline %M KB", os.path.join(REL, "examples", "wc_baseline"), corpus, base_out],
                               check=True, capture_output=True, text=True)
            base_t.append(time.perf_counter() - start)
            base_kb = peak_kb(p.stderr, "baseline")
            dist_out = os.path.join(tmp, "dist.out")
            port = 17400 + r
            start = time.perf_counter()
            master = subprocess.Popen(["/usr/bin/time", "-f", "master %M KB", DSYS, "mr", "master", "--listen", f"127.0.0.1:{port}", "-q", "wc", corpus, "-o", dist_out],
                                      stderr=subprocess.PIPE, text=True)
            workers = [subprocess.Popen(["/usr/bin/time", "-f", "worker %M KB", DSYS, "mr", "worker", "--master", f"127.0.0.1:{port}"],
                                        stderr=subprocess.PIPE, text=True) for _ in range(2)]
            _, merr = master.communicate()
            dist_t.append(time.perf_counter() - start)
            werrs = [w.communicate()[1] for w in workers]
            mem.append((base_kb, peak_kb(merr, "master"), [peak_kb(e, "worker") for e in werrs]))
            same = open(base_out, "rb").read() == open(dist_out, "rb").read()
            print(f"round {r}: baseline {base_t[-1]:.2f} s, distributed {dist_t[-1]:.2f} s, outputs identical: {same}")
        b, d = statistics.median(base_t), statistics.median(dist_t)
        print(f"baseline (1 thread, in-memory hash map): {size/1e6/b:7.1f} MB/s  ({b:.2f} s)")
        print(f"dsys mr, master + 2 worker processes:    {size/1e6/d:7.1f} MB/s  ({d:.2f} s)")
        print(f"distributed / (2 x baseline) = {b/d/2*100:.0f} % of the 2-core ideal")
        print(f"peak RSS KB (baseline, master, workers) per round: {mem}")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "big":
        big(int(sys.argv[2]) if len(sys.argv) > 2 else 1024)
    else:
        bible()
