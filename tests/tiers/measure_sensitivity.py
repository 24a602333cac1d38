#!/usr/bin/env python3
"""Measure per-step KL(reference || low) by content kind on two running llama-server tiers.

Why this exists: the generated test model (make_model_gguf.py) is meant to make a 4-bit tier hurt some
content (numbers, code, JSON) much more than prose, as outlier channels do in real LLMs. This script
checks that claim from the outside, with nothing but the servers' answers: it teacher-forces actions of
four content kinds (prose, numbers/tables, code, JSON tool arguments) after a fixed chat prompt, asks both
tiers for their top-k next-token logprobs at each of the first N action tokens, and estimates the KL the
way the library's shadow sampler does (plugin/backend/shadow.cc: union of both top-k lists plus an
"other" bucket holding each side's unlisted mass, unlisted tokens of a side get min(tail share, least
listed probability)). It knows nothing of which tokens the generator made sensitive.

The actions are drawn from the --seed, so two runs give the same figures.

Usage:
  measure_sensitivity.py --reference http://127.0.0.1:PORT --low http://127.0.0.1:PORT
                         [--texts 6] [--tokens 24] [--top-k 20] [--seed 7] [--json OUT.json]
  measure_sensitivity.py --tiers DIR/tiers.env          (uses QC_TIER_F16_URL and QC_TIER_Q4_0_URL)
The last stdout line is one JSON object with the per-kind summary.
"""

import argparse
import json
import math
import random
import statistics
import sys
import urllib.request

PROMPT = "<|im_start|>system\nYou are a helpful agent.<|im_end|>\n<|im_start|>user\n{task}<|im_end|>\n<|im_start|>assistant\n"
WORDS = ("the a of and to in is it that was for on are with they be this have from one all were we when "
         "your can said there each which she do how their if will up other about out many then them these "
         "so some her would make like him into time has look two more write go see way could people than "
         "first been call who now find long down day did get come made may part world model answer question "
         "please thank yes long story river house garden morning friend letter travel reason simple").split()
IDENTS = ("value total items result count index name data row key left right node path line buf size "
          "parse load save query score step token").split()
TOOLS = ("search", "read_file", "write_file", "run_tests", "calculator", "http_get")


def prose(rng):
    sentences = []
    for _ in range(rng.randint(3, 5)):
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 12))]
        sentences.append(" ".join(words).capitalize() + ".")
    return " ".join(sentences)


def numbers(rng):
    rows = []  # numbers first: the scored tokens are the action's first ones
    for _ in range(rng.randint(4, 6)):
        qty, price = rng.randint(1, 400), round(rng.uniform(0.5, 999), 2)
        rows.append(f"| {rng.randint(100, 9999)} | {qty} | {price} | {round(qty * price, 2)} |")
    rows.append(f"sum = {rng.randint(1000, 99999)}.{rng.randint(10, 99)}, mean = {rng.uniform(1, 500):.3f}")
    return "\n".join(rows)


def code(rng):
    f, a, b, c = (rng.choice(IDENTS) for _ in range(4))
    n = rng.randint(2, 64)
    return (f"def {f}_{a}({b}, {c}):\n    if {b} is None:\n        return []\n"
            f"    {a} = [x * {n} for x in {b} if x > {c}]\n    for i in range(len({a})):\n"
            f"        {a}[i] += {b}[i] // 2\n    return {{\"{a}\": {a}, \"n\": len({a})}}\n")


def tool_json(rng):
    tool = rng.choice(TOOLS)
    args = {"path": f"src/{rng.choice(IDENTS)}_{rng.randint(1, 99)}.py", "line": rng.randint(1, 900),
            "limit": rng.randint(5, 500), "query": [rng.choice(IDENTS), rng.randint(0, 9999)],
            "options": {"exact": rng.random() < 0.5, "max": round(rng.uniform(0, 1), 3)}}
    keys = list(args)
    rng.shuffle(keys)
    return json.dumps({"name": tool, "arguments": {k: args[k] for k in keys}})


KINDS = {"prose": prose, "numbers": numbers, "code": code, "json": tool_json}
TASKS = {"prose": "Tell me about your day.", "numbers": "Put the order into a table with totals.",
         "code": "Write the helper function.", "json": "Call the right tool."}


def post(base, path, body, timeout=120):
    request = urllib.request.Request(base.rstrip("/") + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def tokenize(base, text):
    return post(base, "/tokenize", {"content": text, "add_special": True, "parse_special": True})["tokens"]


def next_top_k(base, context, k):
    answer = post(base, "/completion", {"prompt": context, "n_predict": 1, "n_probs": k, "cache_prompt": True,
                                        "temperature": 0, "post_sampling_probs": False})
    if not answer.get("completion_probabilities"):
        # llama-server leaves the probabilities out when the token it drew is an incomplete UTF-8
        # sequence (a lone byte token): the step cannot be scored.
        if "content" in answer and "timings" in answer:
            return None
        raise SystemExit(f"{base}/completion: no completion_probabilities (is it llama-server?)")
    top = answer["completion_probabilities"][0]["top_logprobs"]
    return {entry["id"]: entry["logprob"] for entry in top}


def bucketise(listed, tokens):
    """shadow.cc's Bucketise: probabilities over `tokens` plus a last 'other' bucket."""
    probs = [math.exp(min(listed[t], 0.0)) if t in listed else None for t in tokens]
    listed_mass = sum(p for p in probs if p is not None)
    least = min([p for p in probs if p is not None], default=1.0)
    if listed_mass > 1:
        probs = [p / listed_mass if p is not None else None for p in probs]
        least /= listed_mass
        listed_mass = 1.0
    tail = 1 - listed_mass
    unlisted = sum(p is None for p in probs)
    share = min(tail / (unlisted + 1), least)
    probs = [share if p is None else p for p in probs]
    return probs + [max(0.0, tail - share * unlisted)]


def top_k_kl(reference, low):
    tokens = list(dict.fromkeys(list(reference) + list(low)))
    p, q = bucketise(reference, tokens), bucketise(low, tokens)
    kl = sum(pi * (math.log(pi) - math.log(max(qi, 1e-10))) for pi, qi in zip(p, q) if pi > 0)
    return max(kl, 0.0)


def quantile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", help="base URL of the reference tier (no /v1)")
    parser.add_argument("--low", help="base URL of the low tier (no /v1)")
    parser.add_argument("--tiers", help="a tiers.env from cmake/llama-tiers.sh start (f16 vs q4_0)")
    parser.add_argument("--low-name", default="q4_0", help="tier of --tiers to compare with f16 (default q4_0)")
    parser.add_argument("--texts", type=int, default=6, help="actions per content kind (default 6)")
    parser.add_argument("--tokens", type=int, default=24, help="action tokens scored per action (default 24)")
    parser.add_argument("--top-k", type=int, default=20, help="n_probs per request (default 20)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the actions (default 7)")
    parser.add_argument("--json", help="also write every step's KL here")
    args = parser.parse_args()
    if args.tiers:
        env = dict(line.strip().split("=", 1) for line in open(args.tiers) if "=" in line)
        strip = lambda url: url[:-3] if url.endswith("/v1") else url
        args.reference = args.reference or strip(env["QC_TIER_F16_URL"])
        args.low = args.low or strip(env[f"QC_TIER_{args.low_name.upper()}_URL"])
    if not args.reference or not args.low:
        parser.error("give --reference and --low, or --tiers")

    rng = random.Random(args.seed)
    steps = {kind: [] for kind in KINDS}
    unscored = {kind: 0 for kind in KINDS}
    for index in range(args.texts):
        for kind, make in KINDS.items():
            prompt = PROMPT.format(task=TASKS[kind])
            action = make(rng)
            prompt_tokens = tokenize(args.reference, prompt)
            joint = tokenize(args.reference, prompt + action)
            common = 0
            while common < min(len(prompt_tokens), len(joint)) and prompt_tokens[common] == joint[common]:
                common += 1
            positions = min(len(joint) - common, args.tokens)
            # Reference then low, each extending its cached prompt by one token per request.
            tops = []
            for base in (args.reference, args.low):
                tops.append([next_top_k(base, joint[:common + i], args.top_k) for i in range(positions)])
            for i in range(positions):
                if tops[0][i] is None or tops[1][i] is None:
                    unscored[kind] += 1
                    continue
                steps[kind].append(top_k_kl(tops[0][i], tops[1][i]))
            print(f"  {kind:8s} text {index + 1}/{args.texts}: {positions} steps", file=sys.stderr)

    every = sorted(kl for values in steps.values() for kl in values)
    edges = [0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, math.inf]
    print(f"KL(reference || low) per step, {args.texts} actions x <= {args.tokens} tokens per kind, top-{args.top_k}")
    header = "kind      steps  median     p25      p75      p90     mean  | " + " ".join(
        f"<{e:g}" if e != math.inf else ">=3" for e in edges[1:])
    print(header)
    summary = {}
    for kind, values in steps.items():
        counts = [sum(lo <= v < hi for v in values) for lo, hi in zip(edges, edges[1:])]
        summary[kind] = {"steps": len(values), "median": quantile(values, 0.5), "p25": quantile(values, 0.25),
                         "p75": quantile(values, 0.75), "p90": quantile(values, 0.9),
                         "mean": statistics.fmean(values), "histogram": counts}
        s = summary[kind]
        print(f"{kind:8s} {len(values):6d} {s['median']:7.4f} {s['p25']:8.4f} {s['p75']:8.4f} {s['p90']:8.4f} "
              f"{s['mean']:8.4f} | " + " ".join(f"{c:5d}" for c in counts))
    # How well one threshold separates the kinds: the share of each kind's steps above the global 70th
    # percentile (a 30% budget sent high by an oracle that knew the KL).
    if any(unscored.values()):
        print("steps not scored (a tier drew a lone byte token): " + ", ".join(f"{k} {v}" for k, v in unscored.items()))
    threshold = quantile(every, 0.7)
    above = {kind: sum(v > threshold for v in values) / len(values) for kind, values in steps.items()}
    print(f"threshold {threshold:.4f} (global p70): share above by kind " +
          ", ".join(f"{kind} {share:.0%}" for kind, share in above.items()))
    prose_median = summary["prose"]["median"]
    ratios = {kind: summary[kind]["median"] / prose_median if prose_median > 0 else math.inf for kind in KINDS}
    print("median / prose median: " + ", ".join(f"{kind} {ratio:.1f}x" for kind, ratio in ratios.items()))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"steps": steps, "summary": summary}, out)
    print(json.dumps({"threshold_p70": threshold, "share_above": above, "median_ratio_to_prose": ratios,
                      "summary": {k: {x: v[x] for x in ("steps", "median", "p90", "mean")} for k, v in summary.items()}}))


if __name__ == "__main__":
    main()
