#!/usr/bin/env python3
"""A/A repeatability of `bench run`: the same config run N times on the same build; for every cell
present in each pair of consecutive runs, do the two medians agree within their 95% bootstrap CIs?

  scripts/aa-repeatability.py [--runs 2] [--config configs/smoke.yaml] [--bench build/bench] [--keep DIR]

"agree" here means each run's median lies inside the other run's 95% CI of the median (stricter than
overlapping intervals, which is also reported). Prints per-pair fractions and the overall fraction.
"""
import argparse, json, os, subprocess, sys, tempfile

def cells(path):
    with open(path) as f:
        r = json.load(f)
    out = {}
    for c in r["cells"]:
        s = c.get("stats") or {}
        ci = s.get("median_ci_s")
        if c["status"] in ("CONVERGED", "UNSTABLE", "CAPPED_SLOW") and s.get("median_s") and ci and None not in ci:
            out[(c["id"], c["backend"])] = (s["median_s"], ci[0], ci[1])
    return out

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--config", default="configs/smoke.yaml")
    ap.add_argument("--bench", default="build/bench")
    ap.add_argument("--keep", help="directory to keep the result files in")
    a = ap.parse_args()
    d = a.keep or tempfile.mkdtemp(prefix="bb_aa_")
    os.makedirs(d, exist_ok=True)
    files = []
    for i in range(a.runs):
        out = os.path.join(d, f"run{i}.json")
        subprocess.run([a.bench, "run", a.config, "--quiet", "--out", out], check=True, stdout=subprocess.DEVNULL)
        files.append(out)
    total = agree = overlap = 0
    for i in range(len(files) - 1):
        x, y = cells(files[i]), cells(files[i + 1])
        keys = sorted(set(x) & set(y))
        n = sum(1 for k in keys if x[k][1] <= y[k][0] <= x[k][2] and y[k][1] <= x[k][0] <= y[k][2])
        o = sum(1 for k in keys if x[k][1] <= y[k][2] and y[k][1] <= x[k][2])
        print(f"run{i} vs run{i+1}: {n}/{len(keys)} cells agree (median in the other's CI), {o}/{len(keys)} CIs overlap")
        for k in keys:
            if not (x[k][1] <= y[k][0] <= x[k][2] and y[k][1] <= x[k][0] <= y[k][2]):
                print(f"  differs: {k[0]} on {k[1]}: {x[k][0]*1e6:.4g} us [{x[k][1]*1e6:.4g}, {x[k][2]*1e6:.4g}] vs "
                      f"{y[k][0]*1e6:.4g} us [{y[k][1]*1e6:.4g}, {y[k][2]*1e6:.4g}]")
        total += len(keys); agree += n; overlap += o
    if total:
        print(f"overall: {agree}/{total} = {100*agree/total:.1f}% agree, {100*overlap/total:.1f}% overlap; files in {d}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
