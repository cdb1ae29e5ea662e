#!/usr/bin/env python3
"""Include cycles among harness/ and plugins/: between folders (modules, e.g. harness/run) and between
units (a header and its source together, e.g. harness/plugin/registry). Prints each cycle (a strongly
connected component of the include graph); exits 1 when there is one. scripts/test.sh runs it."""
import os, re, sys, itertools
root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
inc = re.compile(r'#include\s+"([^"]+)"')
files = {}
for top in ("harness", "plugins"):
    for d, _, fs in os.walk(os.path.join(root, top)):
        for f in fs:
            if f.endswith((".h", ".cpp", ".cu", ".cuh")):
                p = os.path.relpath(os.path.join(d, f), root)
                files[p] = [m.group(1) for m in inc.finditer(open(os.path.join(root, p), errors="replace").read())]
def resolve(src, name):
    for cand in (os.path.normpath(os.path.join(os.path.dirname(src), name)), os.path.join("harness", name),
                 os.path.join("harness/include", name)):
        if cand in files: return cand
    return None
def unit(p): return os.path.splitext(p)[0]
def module(p):
    parts = p.split(os.sep)
    return "/".join(parts[:2]) if len(parts) > 2 else parts[0]
def cycles(edge_of):
    g = {}
    for src, names in files.items():
        for n in names:
            dst = resolve(src, n)
            if dst is None: continue
            a, b = edge_of(src), edge_of(dst)
            if a != b: g.setdefault(a, set()).add(b)
    # Tarjan's strongly connected components
    index, low, stack, on, out, i = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = i[0]; i[0] += 1; stack.append(v); on.add(v)
        for w in g.get(v, ()):
            if w not in index: visit(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in list(g):
        if v not in index: visit(v)
    return out
bad = 0
for name, fn in (("module", module), ("unit", unit)):
    for c in cycles(fn):
        print(f"{name} cycle: {' <-> '.join(c)}"); bad += 1
print(f"include cycles: {bad}")
sys.exit(1 if bad else 0)
