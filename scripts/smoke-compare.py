#!/usr/bin/env python3
"""Usage: scripts/smoke-compare.py BEFORE.json AFTER.json

Compares two `bench run` results of one config and seed (e.g. before and after a refactor) on what
must not depend on timing: the cells (id, backend, brick, shape, in order), each cell's status
(CONVERGED / UNSTABLE / CAPPED_SLOW count as one class, "measured": which of them a cell reaches is
the machine's noise; the flips are listed apart), equivalence (checked, pass, NMSE, max rel, top-1,
note, class), budget (budget, graded, pass, grade), engine keys, time source, plugins, skipped
backends, model and state. Exits 1 on a difference."""
import json, sys

def key(c): return (c["id"], c["backend"])

# CONVERGED / UNSTABLE / CAPPED_SLOW depend on the machine's noise (two runs of one binary differ):
# compared as "measured"; every other status exactly. Exact flips are listed apart, for information.
TIMED = {"CONVERGED", "UNSTABLE", "CAPPED_SLOW"}
def status_class(s): return "measured" if s in TIMED else s

def view(c):
    eq = c.get("equivalence", {})
    b = c.get("budget", {})
    return {
        "brick": c.get("brick"), "shape": c.get("shape"), "status": status_class(c.get("status")),
        "eq.checked": eq.get("checked"), "eq.pass": eq.get("pass"), "eq.note": eq.get("note"),
        "eq.nmse": eq.get("nmse"), "eq.max_rel": eq.get("max_rel"), "eq.top1": eq.get("top1"),
        "eq.top1_strict": eq.get("top1_strict"), "eq.tolerance_class": eq.get("tolerance_class"),
        "budget.has": b.get("has_budget", "budget_us" in b), "budget.us": b.get("budget_us"),
        "budget.graded": b.get("graded"), "budget.pass": b.get("pass"), "budget.grade": b.get("grade"), "has_samples": bool(c.get("samples") or c.get("samples_s")),
        "engine": sorted((c.get("engine") or {}).keys()) if isinstance(c.get("engine"), dict) else c.get("engine"),
        "time_source": c.get("time_source"),
    }

a, b = (json.load(open(p)) for p in sys.argv[1:3])
bad = 0
for k in ("state", "schema_version"):
    if a.get(k) != b.get(k): print("top-level", k, a.get(k), "!=", b.get(k)); bad += 1
for k in ("skipped_backends",):
    if a.get(k) != b.get(k): print(k, "differ"); bad += 1
if [p["name"] for p in a["plugins"]] != [p["name"] for p in b["plugins"]]: print("plugins differ"); bad += 1
ma, mb = a["model"], b["model"]
if {k: v for k, v in ma.items()} != {k: v for k, v in mb.items()}: print("model differs"); bad += 1
ca = {key(c): view(c) for c in a["cells"]}
cb = {key(c): view(c) for c in b["cells"]}
if [key(c) for c in a["cells"]] != [key(c) for c in b["cells"]]: print("cell list/order differs"); bad += 1
for k in ca.keys() | cb.keys():
    if k not in ca or k not in cb: print("only in one:", k); bad += 1; continue
    for f in ca[k]:
        if ca[k][f] != cb[k][f]: print(k, f, ca[k][f], "!=", cb[k][f]); bad += 1
flips = [k for k in ca.keys() & cb.keys() if ca[k]["status"] == "measured" and
         next(c["status"] for c in a["cells"] if key(c) == k) != next(c["status"] for c in b["cells"] if key(c) == k)]
if flips: print("timing-dependent status flips (not counted):", sorted(flips))
print(f"{len(ca)} cells compared; {bad} difference(s)")
sys.exit(1 if bad else 0)
