"""Summarise a py-spy raw (collapsed) profile: share of samples by package and by function.

    python bench/support/spysum.py PROFILE.txt [--under FUNCTION] [--top 25]

A sample counts once for every package on its stack (inclusive), and once for the function
at its top (self). `--under` keeps only samples whose stack passes through FUNCTION.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter


def package(frame: str) -> str:
    m = re.search(r"\(([^()]*)\)$", frame)
    path = m.group(1) if m else frame
    if "site-packages/" in path:
        return path.split("site-packages/")[1].split("/")[0].split(".py")[0]
    if "/lib/python3" in path:
        return "stdlib:" + path.split("/lib/python3")[1].split("/", 1)[1].split("/")[0].split(".py")[0]
    for top in ("checks/", "monitor/", "bench/"):
        if top in path:
            rest = path.split(top, 1)[1]
            return top + rest.split(":")[0]
    return path.split(":")[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profile")
    ap.add_argument("--under")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    with open(args.profile) as f:
        lines = f.readlines()
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        if args.under and not any(args.under in f for f in frames):
            continue
        total += n
        for pkg in {package(f) for f in frames}:
            inclusive[pkg] += n
        own[frames[-1].split(" (")[0] + " " + package(frames[-1])] += n
    print(f"{total} samples")
    print("inclusive by module:")
    for k, v in inclusive.most_common(args.top):
        print(f"  {v / total:6.1%}  {k}")
    print("self by function:")
    for k, v in own.most_common(args.top):
        print(f"  {v / total:6.1%}  {k}")


if __name__ == "__main__":
    main()
