#!/usr/bin/env python3
"""Validation of `bench diff` as an instrument (docs/VALIDATION.md, "bench diff"): its false-alarm rate
and its power, measured on this machine with the real `bench run`.

  scripts/diff-validation.py aa    [--config configs/smoke.yaml] [--runs 10] [--pairs consecutive|all]
  scripts/diff-validation.py power [--config configs/nightly.yaml] [--brick qkv] [--delays 0.02,0.03,0.05,0.10]
                                   [--trials 20]
  common: [--build build] [--keep DIR] [--alpha A] [--min-effect P]

aa:    the same build runs the config N times; every pair of runs is diffed (consecutive: N-1 diffs, all:
       N(N-1)/2); a cell flagged slower or faster is a false alarm. Prints the flagged fraction of brick cells (the bandwidth-ceiling probe, which measures
       the machine and never gates bench diff, is counted apart).
power: per trial, two runs of the test backend `faulty` (tests/run/faulty_plugin.cpp: scalar_ref that
       busy-waits a fraction of one brick's own time), BASE without delay and NEW with delay:<brick>:<d>;
       the trial detects when that brick's cell on faulty is `slower`. Other cells flagged in the same
       diffs are counted as false alarms. Runs are interleaved (base, new, base, new...) so slow drift of
       the machine's load hits both sides alike.
"""
import argparse, itertools, json, os, subprocess, sys, tempfile

def run(bench, config, out, env=None, extra=()):
    e = dict(os.environ)
    e.pop("BRICKBENCH_PLUGIN_PATH", None)
    if env:
        e.update(env)
    p = subprocess.run([bench, "run", config, "--quiet", "--bandwidth-mib", "16", "--out", out, *extra],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=e)
    if p.returncode != 0:
        sys.exit(f"bench run {config} failed with exit {p.returncode}:\n{p.stderr}")

def diff(bench, a, b, alpha, effect):
    p = subprocess.run([bench, "diff", a, b, "--format", "json", "--alpha", str(alpha), "--min-effect", effect],
                       stdout=subprocess.PIPE, text=True)
    if p.returncode not in (0, 1):
        sys.exit(f"bench diff {a} {b} failed with exit {p.returncode}")
    return json.loads(p.stdout)

def tally(cells):
    t = {}
    for c in cells:
        t[c["verdict"]] = t.get(c["verdict"], 0) + 1
    return t

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["aa", "power"])
    ap.add_argument("--config")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--pairs", choices=["consecutive", "all"], default="consecutive")
    ap.add_argument("--brick", default="qkv")
    ap.add_argument("--delays", default="0.02,0.03,0.05,0.10")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--build", default="build")
    ap.add_argument("--keep")
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--min-effect", default="3%")
    a = ap.parse_args()
    bench = os.path.join(a.build, "bench")
    d = a.keep or tempfile.mkdtemp(prefix="bb_diffval_")
    os.makedirs(d, exist_ok=True)

    if a.mode == "aa":
        config = a.config or "configs/smoke.yaml"
        files = []
        for i in range(a.runs):
            f = os.path.join(d, f"aa{i}.json")
            run(bench, config, f)
            files.append(f)
        pairs = list(zip(files, files[1:])) if a.pairs == "consecutive" else list(itertools.combinations(files, 2))
        compared = flagged = probes = 0
        total = {}
        for x, y in pairs:
            r = diff(bench, x, y, a.alpha, a.min_effect)
            cells = [c for c in r["cells"] if c["verdict"] not in ("only-in-base", "only-in-new") and c.get("gates", True)]
            probes += sum(1 for c in r["cells"] if not c.get("gates", True) and c["verdict"] in ("slower", "faster"))
            t = tally(cells)
            for k, v in t.items():
                total[k] = total.get(k, 0) + v
            f = t.get("slower", 0) + t.get("faster", 0)
            compared += len(cells)
            flagged += f
            for c in cells:
                if c["verdict"] in ("slower", "faster"):
                    print(f"  flagged: {os.path.basename(x)} vs {os.path.basename(y)}: {c['id']} {c['backend']} "
                          f"{c['verdict']} ratio {c['ratio']:.3f} CI [{c['ratio_ci'][0]:.3f}, {c['ratio_ci'][1]:.3f}] "
                          f"p {c['p_value']:.2g}")
        print(f"A/A {config}: {a.runs} runs, {len(pairs)} diffs ({a.pairs}), {compared} cell comparisons: "
              f"{flagged} flagged = {100.0 * flagged / max(compared, 1):.2f}%; verdicts {total}; bandwidth-ceiling "
              f"probes (not bricks, never gate) that moved: {probes}; files in {d}")
        return 0

    config = a.config or "configs/nightly.yaml"
    faulty = os.path.join(a.build, "test_plugins", "faulty")
    inner = os.path.join(a.build, "plugins", "scalar_ref.so")
    extra = ("--plugin-dir", faulty, "--backend", "faulty")
    for delay in [float(x) for x in a.delays.split(",")]:
        hits = other_flags = other_cells = 0
        ratios = []
        for t in range(a.trials):
            base = os.path.join(d, f"p{delay}_{t}_base.json")
            new = os.path.join(d, f"p{delay}_{t}_new.json")
            env = {"BB_FAULTY_INNER": inner}
            run(bench, config, base, dict(env, BB_FAULTY_MODE=f"delay:{a.brick}:0"), extra)
            run(bench, config, new, dict(env, BB_FAULTY_MODE=f"delay:{a.brick}:{delay}"), extra)
            r = diff(bench, base, new, a.alpha, a.min_effect)
            target = [c for c in r["cells"] if c["backend"] == "faulty" and c["id"] == a.brick]
            if not target:
                sys.exit(f"no cell {a.brick} on faulty in {new}")
            c = target[0]
            ratios.append(c["ratio"])
            hits += c["verdict"] == "slower"
            if c["verdict"] != "slower":
                print(f"  missed: delay {delay} trial {t}: {c['verdict']} ratio {c['ratio']:.3f} "
                      f"CI [{c['ratio_ci'][0]:.3f}, {c['ratio_ci'][1]:.3f}] p {c['p_value']:.2g} {c['note']}")
            for o in r["cells"]:
                if o is c or o["verdict"] in ("only-in-base", "only-in-new") or not o.get("gates", True):
                    continue
                other_cells += 1
                other_flags += o["verdict"] in ("slower", "faster")
        ratios.sort()
        print(f"power {config} {a.brick} delay {100 * delay:.0f}%: detected {hits}/{a.trials} = "
              f"{100.0 * hits / a.trials:.0f}%, median ratio {ratios[len(ratios) // 2]:.3f}; other cells flagged "
              f"{other_flags}/{other_cells} = {100.0 * other_flags / max(other_cells, 1):.2f}%", flush=True)
    print(f"files in {d}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
