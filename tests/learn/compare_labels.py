#!/usr/bin/env python3
"""Do two collections of the same episodes label the same steps the same way?

Reads two quantclaw_trace_labels outputs (TSV: session_id, step_index, kl_divergence,
needs_high_precision, ...) and matches records by (session_id, step_index). Prints, over the steps both
collections labelled:
  label agreement   the share with the same needs_high_precision (the label the shadow sampler wrote)
                    and, with --threshold T, the share on the same side of KL T
  KL agreement      the share whose two KL values agree within --kl-tolerance (relative, with an
                    absolute floor of --kl-floor nats for values near zero)
and the steps only one collection labelled. Exit 1 when the label agreement is below --min-agreement
(default 0.95), 2 on bad input.

Usage: compare_labels.py FIRST.tsv SECOND.tsv [--threshold T|median] [--min-agreement 0.95]
"""

import argparse
import sys


def read(path):
    records = {}
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        if header[:4] != ["session_id", "step_index", "kl_divergence", "needs_high_precision"]:
            sys.exit(f"compare_labels: {path}: not a quantclaw_trace_labels output (header {header[:4]})")
        for number, line in enumerate(handle, start=2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 4:
                sys.exit(f"compare_labels: {path}:{number}: {len(fields)} fields, expected at least 4")
            if fields[2] == "-":
                continue
            records[(fields[0], int(fields[1]))] = (float(fields[2]), fields[3] == "1")
    return records


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--threshold", help="also compare the sides of this KL (nats), or 'median': the first "
                        "collection's median KL, where the most steps sit near the line")
    parser.add_argument("--kl-tolerance", type=float, default=0.05, help="relative (default 0.05)")
    parser.add_argument("--kl-floor", type=float, default=1e-3, help="absolute, nats (default 0.001)")
    parser.add_argument("--min-agreement", type=float, default=0.95)
    args = parser.parse_args()
    first, second = read(args.first), read(args.second)
    both = sorted(set(first) & set(second))
    if not both:
        print("compare_labels: no step was labelled in both collections", file=sys.stderr)
        return 1
    same_label = sum(first[key][1] == second[key][1] for key in both)
    close = sum(abs(first[key][0] - second[key][0]) <= max(args.kl_floor, args.kl_tolerance * max(first[key][0], second[key][0]))
                for key in both)
    positives = sum(first[key][1] for key in both)
    print(f"steps labelled in both: {len(both)} (only first: {len(set(first) - set(second))}, "
          f"only second: {len(set(second) - set(first))}); labelled high in the first: {positives}")
    print(f"label agreement: {same_label}/{len(both)} = {same_label / len(both):.4f}")
    print(f"KL agreement (within {args.kl_tolerance:.0%} or {args.kl_floor} nats): {close}/{len(both)} = {close / len(both):.4f}")
    agreement = same_label / len(both)
    if args.threshold is not None:
        if args.threshold == "median":
            kls = sorted(first[key][0] for key in both)
            args.threshold = kls[len(kls) // 2]
        else:
            args.threshold = float(args.threshold)
        sides = sum((first[key][0] >= args.threshold) == (second[key][0] >= args.threshold) for key in both)
        print(f"agreement at KL threshold {args.threshold:.4g}: {sides}/{len(both)} = {sides / len(both):.4f}")
    return 0 if agreement >= args.min_agreement else 1


if __name__ == "__main__":
    sys.exit(main())
