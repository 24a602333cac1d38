#!/usr/bin/env python3
"""Measure prefill and decode tokens/s of running llama-server tiers, one after the other.

Why this exists: routing pays off only when the quantized tiers are really cheaper than the reference,
so cmake/llama-tiers.sh prints what each tier does on this machine when it starts them, and the demo
reads the figures from DIR/speeds.json. Each tier gets the same fixed prompt (a cold prefill of about
--prompt-tokens tokens, prompt cache off) and generates --decode-tokens tokens (end of sequence ignored);
the figures are llama-server's own `timings` (prompt_per_second, predicted_per_second). One request runs
at a time, round-robin over the tiers, so the tiers do not share the cores while measured; the best of
--runs counts per tier (a busy machine only ever makes a run slower).

Usage: tier_speeds.py NAME=BASE_URL... [--prompt-tokens 256] [--decode-tokens 32] [--runs 2] [--json OUT]
Prints one line per tier to stderr and one JSON object to stdout (and to --json).
"""

import argparse
import json
import sys
import urllib.request

WORDS = ("the model reads a table of 12 rows and writes the total 3417 then it calls the tool with "
         "arguments {\"path\": \"src/main.py\", \"line\": 42} and answers the question").split()


def post(url, body, timeout):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tiers", nargs="+", help="NAME=BASE_URL (with or without /v1)")
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--decode-tokens", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--json", help="also write the JSON object here")
    args = parser.parse_args()

    # Word pieces of this vocabulary are about one token per word; the server reports the exact count.
    prompt = " ".join(WORDS[i % len(WORDS)] for i in range(args.prompt_tokens))
    tiers = []
    for spec in args.tiers:
        name, sep, base = spec.partition("=")
        if not sep or not base:
            parser.error(f"{spec!r}: want NAME=BASE_URL")
        base = base.rstrip("/")
        tiers.append((name, base[:-3] if base.endswith("/v1") else base))
    # Round-robin over the tiers, best run per tier: other work on the machine slows whichever tier it
    # happens to overlap, and interleaving spreads that over all of them.
    speeds = {name: None for name, _ in tiers}
    for _ in range(args.runs):
        for name, base in tiers:
            answer = post(base + "/completion",
                          {"prompt": prompt, "n_predict": args.decode_tokens, "cache_prompt": False,
                           "ignore_eos": True, "temperature": 0}, args.timeout)
            t = answer["timings"]
            run = {"prefill_tokens": t["prompt_n"], "prefill_tok_s": round(t["prompt_per_second"], 1),
                   "decode_tokens": t["predicted_n"], "decode_tok_s": round(t["predicted_per_second"], 1)}
            best = speeds[name]
            if best is None:
                speeds[name] = run
            else:
                best["prefill_tok_s"] = max(best["prefill_tok_s"], run["prefill_tok_s"])
                best["decode_tok_s"] = max(best["decode_tok_s"], run["decode_tok_s"])
    for name, best in speeds.items():
        print(f"llama-tiers: {name:5s} prefill {best['prefill_tok_s']:8.1f} tok/s ({best['prefill_tokens']} tokens), "
              f"decode {best['decode_tok_s']:7.1f} tok/s ({best['decode_tokens']} tokens)", file=sys.stderr)
    text = json.dumps(speeds)
    if args.json:
        with open(args.json, "w") as out:
            out.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
