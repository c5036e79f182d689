#!/usr/bin/env python3
"""The longest function (or init, or closure-free computed property) in each module of
Sources/, with its length in lines, from the opening line to the closing brace.

    python3 Tools/longest_functions.py [ROOT]       # ROOT: a checkout (default: this one)

Counts braces outside strings and comments; generated code (*.pb.swift) is skipped."""
import os, re, sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
start = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|private|internal|fileprivate|open|static|final|override|"
                   r"mutating|nonisolated|convenience|required|@inline\(__always\)|@discardableResult)\s+)*"
                   r"(?:func\s+[^\s(<]+|init[?!]?)\s*[(<]")

def strip(line):
    line = re.sub(r'"(?:\\.|[^"\\])*"', '""', line)
    return line.split("//")[0]

best = {}
for module in sorted(os.listdir(os.path.join(root, "Sources"))):
    folder = os.path.join(root, "Sources", module)
    for dirpath, _, files in os.walk(folder):
        for f in files:
            if not f.endswith(".swift") or f.endswith(".pb.swift"):
                continue
            path = os.path.join(dirpath, f)
            lines = open(path, encoding="utf-8").read().split("\n")
            i = 0
            while i < len(lines):
                if start.match(lines[i]):
                    depth, opened, j = 0, False, i
                    while j < len(lines):
                        s = strip(lines[j])
                        depth += s.count("{") - s.count("}")
                        opened = opened or "{" in s
                        if opened and depth <= 0:
                            break
                        if not opened and j > i + 8:
                            break
                        j += 1
                    if opened:
                        n = j - i + 1
                        name = re.sub(r"\s+", " ", lines[i].strip())[:70]
                        if n > best.get(module, (0,))[0]:
                            best[module] = (n, os.path.relpath(path, root), i + 1, name)
                i += 1
for module, (n, path, line, name) in sorted(best.items(), key=lambda kv: -kv[1][0]):
    print(f"{module:12} {n:4}  {path}:{line}  {name}")
