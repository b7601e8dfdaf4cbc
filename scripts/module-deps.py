#!/usr/bin/env python3
"""Prints the import graph between shopfleet's top-level modules and fails on a circle.

A reference is any `crate::a::b` path in a file under src/ (in `use` lines and inline), plus
`super::` paths resolved from the file's place. Two levels are checked:
- modules: the folders and files directly under src/ (`catalog`, `events`, `app`, ...);
- files: inside one module, a file that reaches a sibling file which reaches it back.
A module's own `mod.rs` declaring or re-exporting its children is not an edge (that is what a
parent module is for); anything else, in either direction, is.

Usage: scripts/module-deps.py [--graph]   exit 1 when a circle is found.
"""
import os
import re
import sys
from collections import defaultdict

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
PATH = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_GROUP = re.compile(r"\buse\s+(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\};", re.S)


def module_path(rel):
    """src-relative file path -> module path list, e.g. catalog/products.rs -> [catalog, products]."""
    parts = rel[:-3].split("/")
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return parts


def files():
    out = {}
    for root, _, names in os.walk(SRC):
        for name in names:
            if name.endswith(".rs"):
                rel = os.path.relpath(os.path.join(root, name), SRC).replace(os.sep, "/")
                out[tuple(module_path(rel))] = rel
    return out


def strip_comments(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def targets(text, here):
    """Module paths referenced by a file whose module path is `here`."""
    found = []
    text = strip_comments(text)
    for m in USE_GROUP.finditer(text):
        base = m.group(2).split("::")[1:]
        for item in re.split(r",", m.group(3)):
            item = item.strip().split(" as ")[0].strip()
            if item and item not in ("self",):
                found.append((m.group(1), base + re.split(r"::", item.split("{")[0].strip(":"))))
    for m in PATH.finditer(text):
        found.append((m.group(1), m.group(2).split("::")[1:]))
    parent = list(here[:-1])  # what `super` names, in a mod.rs and a leaf file alike
    for kind, rest in found:
        rest = [r for r in rest if r]
        if kind == "crate":
            yield rest
        else:
            base = parent
            while rest and rest[0] == "super":
                base, rest = base[:-1], rest[1:]
            yield base + rest


def resolve(path, known):
    """Longest prefix of `path` that is a known file."""
    for n in range(len(path), 0, -1):
        if tuple(path[:n]) in known:
            return tuple(path[:n])
    return None


def cycles(edges):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def main():
    known = files()
    module_edges = defaultdict(set)
    file_edges = defaultdict(set)
    for here, rel in known.items():
        if not here:
            continue  # lib.rs / main.rs: the crate root
        with open(os.path.join(SRC, rel), encoding="utf-8") as f:
            text = f.read()
        is_mod = rel.endswith("mod.rs") or len(here) == 1
        for target in targets(text, list(here)):
            to = resolve(target, known)
            if not to or to == here:
                continue
            if here[0] != to[0]:
                module_edges[here[0]].add(to[0])
            elif is_mod and len(to) > len(here) and to[: len(here)] == here:
                continue  # a parent declaring or re-exporting its child
            else:
                file_edges["/".join(here)].add("/".join(to))
    if "--graph" in sys.argv:
        for m in sorted(module_edges):
            print(f"{m} -> {', '.join(sorted(module_edges[m]))}")
    found = False
    for comp in cycles(module_edges):
        found = True
        print("module circle: " + " <-> ".join(comp))
    for comp in cycles(file_edges):
        found = True
        print("file circle: " + " <-> ".join(comp))
    if not found:
        print(f"no import circles ({len(known)} files, {len(module_edges)} modules with imports)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
