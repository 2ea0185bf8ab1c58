#!/usr/bin/env python3
"""Report cycles in the import graph of src/, between top-level modules (crate::X).

Reads every `use crate::…`, `crate::X::` path and `super::` import outside test files/modules and draws an edge from
the file's top-level module to the module it names. Exits 1 and prints each cycle when there is one.
Run: python3 scripts/import-cycles.py
"""
import os, re, sys

SRC = os.path.join(os.path.dirname(__file__), "..", "src")

def top_module(path):
    rel = os.path.relpath(path, SRC)
    head = rel.split(os.sep)[0]
    return head[:-3] if head.endswith(".rs") else head

def strip_tests(text):
    # drop `#[cfg(test)] mod tests { … }` bodies (brace matching) so test-only imports do not count
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:#\[path[^\]]*\]\s*)?mod \w+\s*(\{|;)", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        if m.group(1) == ";":
            i = m.end()
            continue
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)

edges = {}
for root, _, files in os.walk(SRC):
    for f in files:
        if not f.endswith(".rs") or f.endswith("_tests.rs") or f in ("tests.rs", "testkit.rs"):
            continue
        path = os.path.join(root, f)
        src = top_module(path)
        if src in ("main", "lib"):
            continue
        text = strip_tests(open(path).read())
        # comments (doc links included) are not imports
        text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("//"))
        for target in re.findall(r"\bcrate::(\w+)", text):
            if target != src:
                edges.setdefault(src, set()).add(target)

def cycles():
    found, state, stack = [], {}, []
    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                found.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2
    for n in sorted(edges):
        if n not in state:
            visit(n)
    return found

c = cycles()
for cyc in c:
    print("cycle: " + " -> ".join(cyc))
print(f"{len(edges)} modules, {sum(len(v) for v in edges.values())} edges, {len(c)} cycles")
sys.exit(1 if c else 0)
