#!/usr/bin/env python3
"""Measure prefill and decode speeds of running llama-server tiers.

Why this exists: routing pays off only when the quantized tiers are really cheaper than the reference,
so cmake/llama-tiers.sh prints what each tier does on this machine when it starts them, and the demo can
read the figures from DIR/speeds.json.

Each run sends every tier, one request at a time and round-robin (so the tiers never share the cores
while measured), the same fixed prompt of about --prompt-tokens words, prompt cache off, twice: once for
one token (the prefill) and once for 1 + --decode-tokens tokens, end of sequence ignored. Two figures:

* tokens/s of wall time: llama-server's own `timings` (prompt_per_second of the first request,
  predicted_per_second of the second). What a caller waits; on a machine shared with other work it
  moves with the load, so the best of --runs counts.
* tokens per CPU-second, when the server's process id is known (NAME=URL@PID): the process's user+system
  time over each request (/proc/PID/stat), the decode's being the second request's less the first's.
  What a token costs; other work on the machine barely moves it (the clock tick, 10 ms, limits small
  models' figures).

Usage: tier_speeds.py NAME=BASE_URL[@PID]... [--prompt-tokens 256] [--decode-tokens 32] [--runs 3]
                      [--json OUT]
Prints one line per tier to stderr and one JSON object to stdout (and to --json).
"""

import argparse
import json
import os
import sys
import urllib.request

WORDS = ("the model reads a table of 12 rows and writes the total 3417 then it calls the tool with "
         "arguments {\"path\": \"src/main.py\", \"line\": 42} and answers the question").split()


def post(url, body, timeout):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def cpu_seconds(pid):
    """User + system CPU time of process `pid` (fields 14 and 15 of /proc/PID/stat), or None."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tiers", nargs="+", help="NAME=BASE_URL[@PID] (the URL with or without /v1)")
    parser.add_argument("--prompt-tokens", type=int, default=256, help="words in the prompt (default 256)")
    parser.add_argument("--decode-tokens", type=int, default=32, help="tokens to generate (default 32)")
    parser.add_argument("--runs", type=int, default=3, help="runs per tier; the best counts (default 3)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per request (default 300)")
    parser.add_argument("--json", help="also write the JSON object here")
    args = parser.parse_args()

    prompt = " ".join(WORDS[i % len(WORDS)] for i in range(args.prompt_tokens))
    tiers = []
    for spec in args.tiers:
        name, sep, rest = spec.partition("=")
        base, _, pid = rest.partition("@")
        if not sep or not base or (pid and not pid.isdigit()):
            parser.error(f"{spec!r}: want NAME=BASE_URL or NAME=BASE_URL@PID")
        base = base.rstrip("/")
        tiers.append((name, base[:-3] if base.endswith("/v1") else base, int(pid) if pid else None))

    speeds = {name: {} for name, _, _ in tiers}

    def keep_best(figures, key, value):
        if value is not None and value > figures.get(key, 0):
            figures[key] = round(value, 1)

    for _ in range(args.runs):
        for name, base, pid in tiers:
            body = {"prompt": prompt, "cache_prompt": False, "ignore_eos": True, "temperature": 0}
            before = cpu_seconds(pid)
            prefill = post(base + "/completion", dict(body, n_predict=1), args.timeout)
            middle = cpu_seconds(pid)
            both = post(base + "/completion", dict(body, n_predict=1 + args.decode_tokens), args.timeout)
            after = cpu_seconds(pid)
            figures = speeds[name]
            figures["prefill_tokens"] = prefill["timings"]["prompt_n"]
            figures["decode_tokens"] = both["timings"]["predicted_n"]
            keep_best(figures, "prefill_tok_s", prefill["timings"]["prompt_per_second"])
            keep_best(figures, "decode_tok_s", both["timings"]["predicted_per_second"])
            if before is not None and middle is not None and after is not None:
                prefill_cpu = max(middle - before, 0.01)  # at least one clock tick
                decode_cpu = max((after - middle) - prefill_cpu, 0.01)
                keep_best(figures, "prefill_tok_cpu_s", figures["prefill_tokens"] / prefill_cpu)
                keep_best(figures, "decode_tok_cpu_s", (figures["decode_tokens"] - 1) / decode_cpu)
    for name, f in speeds.items():
        line = (f"llama-tiers: {name:5s} prefill {f['prefill_tok_s']:8.1f} tok/s, decode {f['decode_tok_s']:7.1f} tok/s"
                f" ({f['prefill_tokens']} and {f['decode_tokens']} tokens, best of {args.runs})")
        if "prefill_tok_cpu_s" in f:
            line += (f"; per CPU-second: prefill {f['prefill_tok_cpu_s']:.0f}, "
                     f"decode {f['decode_tok_cpu_s']:.0f}")
        print(line, file=sys.stderr)
    text = json.dumps(speeds)
    if args.json:
        with open(args.json, "w") as out:
            out.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
