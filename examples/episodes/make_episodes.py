#!/usr/bin/env python3
"""Write a seeded corpus of recorded agent episodes, one quantclaw.v1.Step per line (JSONL).

The format is the one examples/episodes/research-agent.jsonl uses and `quantclaw route` and
quantclaw_agent_host replay: each line is a step of one session (session_id, step_index, the messages
new since the previous step: user turns, tool results and the agent's own recorded action with its
tool_calls; the request's tools, max_tokens, response_format; sometimes hints.step_kind). A line
{"outcome": {...}} is the host's verdict on a step (an invalid tool call, the episode's reward).

Why it exists: learning where precision matters (`cmake/quantclaw-dev.sh learn`) needs hundreds of
steps of agent traffic of several kinds, the same every time it is generated, with training and
evaluation episodes that share no episode. The kinds, mixed in one corpus:
  research  web_search and read_url over prose pages, notes, a written report
  coding    reading and writing files with code in several languages (JSON tool arguments), test runs
            with failures and stack traces, fixes
  data      CSV files and tables of numbers, python computations, arithmetic answers, JSON output
  chat      plain multi-turn conversation, no tools
  faulty    any of the above where tools fail (HTTP errors, timeouts, missing files, malformed
            arguments) and the agent retries, repeats itself and recovers
Content is assembled from vocabularies, generated names and numbers and structural choices, not copied
from a few fixed texts. Hints are given only as a host could know them before the call (a host that
labels its first step "plan" and the step after a page was read "read"; half the episodes come from a
host that gives none).

Seeds: episode i of a split is generated from seed BASE + i alone (train: BASE 1000, eval: BASE 2000),
so the same (split, i) is the same episode whatever the count, and the splits never share an episode.
--seeds A:B generates seeds A..B-1 instead of a split.

Usage:
  make_episodes.py --split train --episodes 30 -o train.jsonl
  make_episodes.py --split eval --episodes 10 -o eval.jsonl
  make_episodes.py --seeds 5000:5003 -o some.jsonl [--stats]

Python 3 standard library only.
"""

import argparse
import json
import random
import string
import sys

SPLIT_SEED_BASE = {"train": 1000, "eval": 2000}
SPLIT_MAX_EPISODES = 1000  # train seeds 1000..1999, eval 2000..2999: never overlapping
KIND_WEIGHTS = (("research", 3), ("coding", 3), ("data", 3), ("chat", 2), ("faulty", 3))

# --- Vocabularies ------------------------------------------------------------------------------------

SYLLABLES = ("ka ri to ve lan mo sor bel quin dra fen gal hu ix jor ker lum nav or pel ras sil tor "
             "ur vex wen yal zir an bro cal del em fro gor hal ist ju kal lor mer nor pim qua rev sta "
             "tiv ul vor").split()
COMPANY_SUFFIX = ("Corp", "Labs", "Systems", "Holdings", "Group", "Industries", "Networks", "Biotech",
                  "Energy", "Logistics", "Foods", "Analytics", "Robotics", "Materials", "Health")
FIRST_NAMES = ("Ana", "Bilal", "Chen", "Dmitri", "Elena", "Farah", "Goran", "Hana", "Ines", "Jonas", "Kofi",
               "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tariq", "Uma",
               "Viktor", "Wen", "Ximena", "Yusuf", "Zara")
TOPICS = (
    ("battery recycling", "lithium recovery", "cathode material", "recycling plant"),
    ("urban heat islands", "surface temperature", "green roof", "city district"),
    ("coral reef restoration", "larval settlement", "reef site", "marine survey"),
    ("remote work", "office occupancy", "hybrid schedule", "employee survey"),
    ("vertical farming", "crop yield", "LED lighting", "growing facility"),
    ("river flooding", "peak discharge", "flood barrier", "river basin"),
    ("antibiotic resistance", "resistant isolates", "hospital ward", "clinical sample"),
    ("high-speed rail", "passenger volume", "rail corridor", "ticket price"),
    ("wind power", "capacity factor", "offshore turbine", "grid connection"),
    ("language learning apps", "daily active users", "lesson streak", "retention cohort"),
    ("food waste", "household waste", "collection scheme", "landfill tonnage"),
    ("semiconductor supply", "wafer output", "fabrication plant", "lead time"),
    ("bird migration", "arrival date", "breeding colony", "tracking tag"),
    ("public libraries", "loan volume", "branch library", "membership"),
    ("electric buses", "fleet size", "depot charger", "route length"),
    ("sleep research", "sleep duration", "study participant", "screen time"),
)
ADJECTIVES = ("modest", "sharp", "steady", "uneven", "surprising", "gradual", "marked", "slight",
              "sustained", "temporary", "broad", "local", "seasonal", "record", "unexpected", "notable")
VERBS_PAST = ("rose", "fell", "grew", "declined", "recovered", "stalled", "doubled", "plateaued",
              "accelerated", "slowed", "climbed", "dropped")
SOURCES = ("annual report", "press release", "white paper", "working paper", "survey", "audit",
           "quarterly filing", "field study", "ministry statistics", "trade association brief")
DOMAINS = ("example.org", "example.com", "news.example", "data.example.net", "research.example.edu",
           "stats.example.gov", "journal.example.org", "blog.example.io")
CONNECTIVES = ("However,", "In addition,", "By contrast,", "Notably,", "Over the same period,",
               "According to the authors,", "Meanwhile,", "As a result,", "Critics note that", "Overall,")
CHAT_TOPICS = (
    ("plan a three-day trip to {place}", "travel"),
    ("write a polite email asking {person} to reschedule our meeting", "writing"),
    ("explain the difference between a mortgage with a fixed rate and one with a variable rate", "finance"),
    ("suggest a weekly training plan for a first 10k run", "fitness"),
    ("help me name a small bakery in {place}", "naming"),
    ("summarise the plot of a mystery novel I could write about {topic}", "fiction"),
    ("explain how {topic} affects everyday life, in simple terms", "explain"),
    ("give me feedback on this paragraph for a cover letter", "writing"),
    ("recommend how to structure a study schedule for {n} exams", "study"),
    ("explain what a hash map is to a ten-year-old", "explain"),
    ("draft a short toast for {person}'s retirement party", "writing"),
    ("compare tea and coffee for an afternoon slump", "health"),
)
CHAT_FOLLOWUPS = ("Can you make it shorter?", "Thanks! Could you add one more idea?",
                  "That's helpful. What would you change if the budget were tight?",
                  "Could you put that as a bulleted list?", "Make the tone a little more formal, please.",
                  "Why do you suggest that order?", "Great, and what should I avoid?",
                  "Can you give an example?", "Please translate the first sentence into Spanish.",
                  "OK. Now a version for a younger audience.")


def make_name(rng, syllables=(2, 3)):
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(*syllables))).capitalize()


def make_company(rng):
    return f"{make_name(rng)} {rng.choice(COMPANY_SUFFIX)}"


def make_person(rng):
    return f"{rng.choice(FIRST_NAMES)} {make_name(rng)}"


def make_place(rng):
    return make_name(rng, (2, 3)) + rng.choice(("", "burg", " Bay", " Falls", "ville", " Harbour", ""))


def money(rng, low=1, high=900):
    value = rng.uniform(low, high)
    unit = rng.choice(("million", "billion", "thousand"))
    currency = rng.choice(("$", "EUR ", "GBP ", "JPY ", "CHF "))
    return f"{currency}{value:.1f} {unit}"


def percent(rng, low=-30, high=60):
    return f"{rng.uniform(low, high):.1f}%"


def sentence(rng, topic, entity, year):
    subject, metric, thing, unit = topic
    templates = (
        lambda: f"In {year}, {metric} at {entity} {rng.choice(VERBS_PAST)} by {percent(rng)} compared with {year - 1}.",
        lambda: f"The {rng.choice(SOURCES)} attributes the {rng.choice(ADJECTIVES)} change in {metric} to a new {thing}.",
        lambda: f"{rng.choice(CONNECTIVES)} each {thing} reported a {rng.choice(ADJECTIVES)} shift in {metric}.",
        lambda: f"{make_person(rng)}, who led the {rng.choice(SOURCES)}, said the {unit} data for {year} were \"{rng.choice(ADJECTIVES)} but consistent\".",
        lambda: f"Spending on {subject} reached {money(rng)} across {rng.randint(3, 90)} sites in {year}.",
        lambda: f"{rng.choice(CONNECTIVES)} the share of {unit}s meeting the target was {rng.randint(12, 97)} percent, up from {rng.randint(5, 80)} percent.",
        lambda: f"A {thing} in {make_place(rng)} is often cited as the reference case for {subject}.",
        lambda: f"The figures exclude {rng.randint(2, 40)} {unit}s whose records were incomplete before {year - rng.randint(1, 6)}.",
        lambda: f"Analysts expect {metric} to {rng.choice(('keep rising', 'level off', 'fall back', 'recover slowly'))} through {year + rng.randint(1, 4)}.",
        lambda: f"{entity} has not published comparable numbers since {year - rng.randint(2, 9)}, which makes the trend hard to verify.",
    )
    return rng.choice(templates)()


def prose_page(rng, topic, entity, year, length):
    paragraphs, text = [], ""
    while len(text) < length:
        paragraph = " ".join(sentence(rng, topic, entity, year) for _ in range(rng.randint(2, 5)))
        paragraphs.append(paragraph)
        text = "\n\n".join(paragraphs)
    title = f"{entity}: {topic[0]} {rng.choice(SOURCES)} {year}"
    return f"{title}\n{'=' * min(len(title), 60)}\n\n{text}"


def truncate(text, limit):
    # Hosts cut long tool results and say so; the agent sees the cut.
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters truncated by the host]"


def identifier(rng, style="snake"):
    words = rng.sample(("user", "order", "item", "total", "count", "price", "cache", "record", "batch", "score",
                        "index", "name", "value", "result", "config", "path", "limit", "offset", "row",
                        "event", "token", "session", "queue", "retry", "window", "rate", "page", "entry"),
                       rng.randint(1, 3))
    if style == "camel":
        return words[0] + "".join(word.capitalize() for word in words[1:])
    if style == "pascal":
        return "".join(word.capitalize() for word in words)
    return "_".join(words)


# --- The episode being recorded -----------------------------------------------------------------------

class Episode:
    """Collects step lines. Messages observed since the last step go into the next step's line."""

    def __init__(self, rng, session_id, tools, labels_kinds, max_tokens, context_chars):
        self.rng = rng
        self.session_id = session_id
        self.tools = tools
        self.labels_kinds = labels_kinds
        self.max_tokens = max_tokens
        self.context_chars = context_chars  # a soft bound on the conversation's text
        self.lines = []
        self.pending = []
        self.step_index = 0
        self.chars = 0
        self.calls = 0
        self.response_format = None

    def observe(self, message):
        content = message.get("content")
        self.chars += len(content) if isinstance(content, str) else 0
        for call in message.get("tool_calls", ()):
            self.chars += len(call["function"]["arguments"])
        self.pending.append(message)

    def room(self):
        return self.context_chars - self.chars

    def full(self):
        return self.room() < 600

    def step(self, step_kind=None):
        line = {"session_id": self.session_id, "step_index": self.step_index, "messages": self.pending}
        request = {"max_tokens": self.max_tokens}
        if self.tools:
            request["tools"] = self.tools
        if self.response_format:
            request["response_format"] = self.response_format
        line["request"] = request
        if step_kind and self.labels_kinds:
            line["hints"] = {"step_kind": step_kind}
        self.lines.append(line)
        self.pending = []
        self.step_index += 1

    def call(self, name, arguments, content=None, raw_arguments=None):
        """The agent's recorded action at the previous step: a tool call. Returns its id."""
        self.calls += 1
        call_id = "call_" + "".join(self.rng.choice(string.ascii_letters + string.digits) for _ in range(10))
        text = raw_arguments if raw_arguments is not None else json.dumps(arguments)
        self.observe({"role": "assistant", "content": content,
                      "tool_calls": [{"id": call_id, "type": "function",
                                      "function": {"name": name, "arguments": text}}]})
        return call_id

    def result(self, call_id, text):
        self.observe({"role": "tool", "tool_call_id": call_id, "content": text})

    def say(self, role, text):
        self.observe({"role": role, "content": text})

    def outcome(self, step_index, **fields):
        self.lines.append({"outcome": {"session_id": self.session_id, "step_index": step_index, **fields}})


def tool(name, description, **properties):
    required = [key for key, (_, optional) in properties.items() if not optional]
    schema = {"type": "object",
              "properties": {key: {"type": kind} for key, (kind, _) in properties.items()},
              "required": required}
    return {"type": "function", "function": {"name": name, "description": description, "parameters": schema}}


WEB_SEARCH = tool("web_search", "Search the web and return the top results", query=("string", False),
                  max_results=("integer", True))
READ_URL = tool("read_url", "Fetch a web page and return its text", url=("string", False))
WRITE_FILE = tool("write_file", "Write text to a file in the workspace", path=("string", False),
                  content=("string", False))
READ_FILE = tool("read_file", "Read a file from the workspace", path=("string", False))
RUN_TESTS = tool("run_tests", "Run the project's test command and return its output", command=("string", False))
PYTHON = tool("python", "Run Python code and return stdout", code=("string", False))
SEARCH_CODE = tool("search_code", "Search the repository for a pattern", pattern=("string", False),
                   glob=("string", True))


def system_prompt(rng, role):
    extras = ("Be concise.", "Cite sources as URLs.", "Think step by step, then act.", "Prefer small changes.",
              "Ask before deleting anything.", "Show your numbers.", "Answer in English.", "")
    return f"You are {role}. " + " ".join(rng.sample(extras, 2)).strip()


# --- Research -----------------------------------------------------------------------------------------

def search_results(rng, topic, entity, year, count):
    lines = []
    for i in range(count):
        domain = rng.choice(DOMAINS)
        slug = "-".join(rng.choice(topic[0].split() + [entity.split()[0].lower(), str(year), "report", "data"])
                        for _ in range(rng.randint(2, 4)))
        url = f"https://{domain}/{slug}"
        snippet = sentence(rng, topic, entity, year)
        lines.append(f"{i + 1}. {entity if rng.random() < 0.5 else topic[0].title()} - {rng.choice(SOURCES)}\n"
                     f"   {url}\n   {snippet}")
    return "\n".join(lines), [line.split("\n")[1].strip() for line in lines]


def research(rng, episode, faults):
    topic = rng.choice(TOPICS)
    entity = make_company(rng) if rng.random() < 0.6 else f"the city of {make_place(rng)}"
    year = rng.randint(2015, 2025)
    ask = rng.choice((
        f"What happened to {topic[1]} at {entity} in {year}? Give the main numbers and sources.",
        f"Research {topic[0]} for {entity}: how did {topic[1]} change between {year - 1} and {year}?",
        f"I need a short briefing on {topic[0]} ({entity}, {year}). Save it to notes/{topic[0].split()[0]}.md.",
        f"Find two independent sources on {topic[1]} at {entity} and tell me whether they agree.",
    ))
    episode.say("system", system_prompt(rng, "a research assistant with web access"))
    episode.say("user", ask)
    episode.step("plan")
    urls = []
    searches = 0
    limit_steps = rng.randint(8, 18)
    while not episode.full() and episode.step_index < limit_steps:
        if not urls or (rng.random() < 0.3 and searches < 3):
            query = rng.choice((f"{entity} {topic[1]} {year}", f"{topic[0]} {entity} {rng.choice(SOURCES)}",
                                f"{topic[1]} {year} statistics", f"\"{entity}\" {topic[2]}"))
            thought = rng.choice((None, "Let me search for this.", f"Searching for {topic[1]} figures.",
                                  "I'll look for a primary source first."))
            call_id = episode.call("web_search", {"query": query, "max_results": rng.choice((3, 5, 8))}, thought)
            if faults and rng.random() < 0.35:
                episode.result(call_id, rng.choice((
                    "Error: search backend returned HTTP 503 Service Unavailable (retry after 2s)",
                    "Error: rate limit exceeded (429): 60 requests per minute",
                    "ToolError: timed out after 30000 ms")))
                episode.step()
                # The agent retries the same call: a repeated action.
                call_id = episode.call("web_search", {"query": query, "max_results": 5}, "Retrying the search.")
            text, found = search_results(rng, topic, entity, year, rng.randint(3, 6))
            episode.result(call_id, text)
            urls.extend(found)
            searches += 1
            episode.step()
        elif rng.random() < 0.75:
            url = urls.pop(rng.randrange(len(urls)))
            call_id = episode.call("read_url", {"url": url},
                                   rng.choice((None, f"Reading {url}.", "This result looks relevant.")))
            if faults and rng.random() < 0.3:
                episode.result(call_id, rng.choice((f"Error: GET {url} -> 404 Not Found",
                                                    f"Error: GET {url} -> 403 Forbidden (paywall)",
                                                    "Error: page is not text (application/pdf, 2.1 MB)")))
                episode.step()
                continue
            limit = min(rng.randint(300, 2000), max(300, episode.room() - 800))
            page = prose_page(rng, topic, entity, year, rng.randint(300, 3500))
            episode.result(call_id, truncate(page, limit))
            episode.step("read")
        else:
            name = f"notes/{topic[0].replace(' ', '_')}_{year}.md"
            notes = "\n".join(f"- {sentence(rng, topic, entity, year)}" for _ in range(rng.randint(2, 5)))
            call_id = episode.call("write_file", {"path": name, "content": f"# {topic[0].title()}\n\n{notes}\n"})
            episode.result(call_id, f"wrote {len(notes) + 20} bytes to {name}")
            episode.step()
    if rng.random() < 0.3:
        episode.say("user", rng.choice(("Please wrap up now and give me the answer.",
                                        "That's enough searching; summarise what you have.")))
        episode.step("final")


# --- Coding -------------------------------------------------------------------------------------------

def python_function(rng):
    name = identifier(rng)
    arg, other = identifier(rng), identifier(rng)
    body = rng.choice((
        f"    result = []\n    for {other} in {arg}:\n        if {other} is None:\n            continue\n"
        f"        result.append({other} * {rng.randint(2, 9)})\n    return result\n",
        f"    if not {arg}:\n        raise ValueError(\"{arg} must not be empty\")\n"
        f"    return sum({arg}) / len({arg})\n",
        f"    {other} = {{}}\n    for key, value in {arg}.items():\n        {other}.setdefault(value, []).append(key)\n"
        f"    return {other}\n",
        f"    start = max(0, {arg} - {rng.randint(1, 50)})\n    return list(range(start, {arg} + {rng.randint(1, 20)}))\n",
        f"    with open({arg}, encoding=\"utf-8\") as handle:\n        return [line.rstrip(\"\\n\") for line in handle if line.strip()]\n",
    ))
    return name, f"def {name}({arg}):\n    \"\"\"{rng.choice(('Return', 'Compute', 'Build'))} the {identifier(rng).replace('_', ' ')}.\"\"\"\n{body}"


def javascript_function(rng):
    name = identifier(rng, "camel")
    arg = identifier(rng, "camel")
    body = rng.choice((
        f"  return {arg}.filter((x) => x != null).map((x) => x.{identifier(rng, 'camel')});\n",
        f"  const out = {{}};\n  for (const [k, v] of Object.entries({arg})) {{\n    out[v] = (out[v] || 0) + {rng.randint(1, 5)};\n  }}\n  return out;\n",
        f"  if (!Array.isArray({arg})) throw new TypeError('{arg} must be an array');\n  return {arg}.reduce((a, b) => a + b, 0);\n",
        f"  const res = await fetch(`/api/{identifier(rng)}/${{{arg}}}`);\n  if (!res.ok) throw new Error(`HTTP ${{res.status}}`);\n  return res.json();\n",
    ))
    asynchronous = "async " if "await" in body else ""
    return name, f"export {asynchronous}function {name}({arg}) {{\n{body}}}\n"


def go_function(rng):
    name = identifier(rng, "pascal")
    arg = identifier(rng, "camel")
    body = rng.choice((
        f"\ttotal := 0\n\tfor _, v := range {arg} {{\n\t\ttotal += v * {rng.randint(2, 7)}\n\t}}\n\treturn total, nil\n",
        f"\tif len({arg}) == 0 {{\n\t\treturn 0, errors.New(\"empty {arg}\")\n\t}}\n\treturn {arg}[len({arg})-1], nil\n",
    ))
    return name, f"func {name}({arg} []int) (int, error) {{\n{body}}}\n"


def rust_function(rng):
    name = identifier(rng)
    arg = identifier(rng)
    body = rng.choice((
        f"    {arg}.iter().filter(|x| **x > {rng.randint(0, 100)}).copied().sum()\n",
        f"    {arg}.iter().map(|x| x * {rng.randint(2, 9)}).max().unwrap_or(0)\n",
    ))
    return name, f"pub fn {name}({arg}: &[i64]) -> i64 {{\n{body}}}\n"


LANGUAGES = {
    "python": (python_function, "py", "pytest -q", "src/{}.py", "tests/test_{}.py"),
    "javascript": (javascript_function, "js", "npx jest --silent", "src/{}.js", "test/{}.test.js"),
    "go": (go_function, "go", "go test ./...", "internal/{}/{}.go", "internal/{}/{}_test.go"),
    "rust": (rust_function, "rs", "cargo test --quiet", "src/{}.rs", "tests/{}.rs"),
}
# How a definition and a call of the function read in each language, for search hits.
DEFINITION = {"python": "def {}(", "javascript": "export function {}(", "go": "func {}(", "rust": "pub fn {}("}


CRASH_LINES = ("return sum(values) / len(values)", "result.append(item * 3)", 'key = row["id"]',
               "total += entry.amount", "return cache[key]")


def failing_test_output(rng, language, module, function):
    line = rng.randint(8, 180)
    expected, got = rng.randint(0, 500), rng.randint(0, 500)
    if language == "python":
        return (f"F.{'.' * rng.randint(0, 6)}\n=================================== FAILURES ===================================\n"
                f"___________________________ test_{function} ___________________________\n\n"
                f"    def test_{function}():\n>       assert {function}({rng.choice(('[1, 2, 3]', '{}', 'None', str(rng.randint(1, 99))))}) == {expected}\n"
                f"E       assert {got} == {expected}\n\ntests/test_{module}.py:{line}: AssertionError\n"
                f"Traceback (most recent call last):\n  File \"src/{module}.py\", line {rng.randint(3, 60)}, in {function}\n"
                f"    {rng.choice(CRASH_LINES)}\n"
                f"{rng.choice(('ZeroDivisionError: division by zero', 'TypeError: unsupported operand type(s) for *: NoneType and int', 'KeyError: ' + repr(identifier(rng))))}\n"
                f"=========================== short test summary info ============================\n"
                f"FAILED tests/test_{module}.py::test_{function} - AssertionError\n{rng.randint(1, 3)} failed, {rng.randint(2, 40)} passed in {rng.uniform(0.1, 9):.2f}s")
    if language == "javascript":
        return (f" FAIL  test/{module}.test.js\n  ● {function} › handles {identifier(rng).replace('_', ' ')}\n\n"
                f"    expect(received).toEqual(expected) // deep equality\n\n    Expected: {expected}\n    Received: {got}\n\n"
                f"      at Object.<anonymous> (test/{module}.test.js:{line}:{rng.randint(5, 40)})\n"
                f"      at processTicksAndRejections (node:internal/process/task_queues:{rng.randint(60, 99)}:5)\n\n"
                f"Tests:       {rng.randint(1, 3)} failed, {rng.randint(3, 50)} passed, {rng.randint(5, 55)} total\nTime:        {rng.uniform(0.5, 6):.3f} s")
    if language == "go":
        return (f"--- FAIL: Test{function} ({rng.uniform(0, 0.5):.2f}s)\n    {module}_test.go:{line}: {function}() = {got}, want {expected}\n"
                f"panic: runtime error: index out of range [{rng.randint(0, 9)}] with length 0 [recovered]\n\n"
                f"goroutine {rng.randint(5, 40)} [running]:\nexample.com/app/internal/{module}.{function}(...)\n"
                f"\t/src/internal/{module}/{module}.go:{rng.randint(5, 90)} +0x{rng.randint(16, 4095):x}\nFAIL\texample.com/app/internal/{module}\t{rng.uniform(0.01, 2):.3f}s")
    return (f"running {rng.randint(2, 30)} tests\ntest {module}::{function}_works ... FAILED\n\nfailures:\n\n---- {module}::{function}_works stdout ----\n"
            f"thread '{module}::{function}_works' panicked at src/{module}.rs:{line}:{rng.randint(5, 40)}:\n"
            f"assertion `left == right` failed\n  left: {got}\n right: {expected}\n"
            f"note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\n"
            f"test result: FAILED. {rng.randint(1, 20)} passed; 1 failed; 0 ignored; finished in {rng.uniform(0, 3):.2f}s")


def coding(rng, episode, faults):
    language = rng.choice(tuple(LANGUAGES))
    make_function, extension, test_command, source_pattern, test_pattern = LANGUAGES[language]
    module = identifier(rng)
    source = source_pattern.format(module, module)
    tests = test_pattern.format(module, module)
    functions = [make_function(rng) for _ in range(rng.randint(2, 4))]
    target = functions[rng.randrange(len(functions))][0]
    episode.say("system", system_prompt(rng, f"a coding agent working in a {language} repository"))
    episode.say("user", rng.choice((
        f"The tests for {module} fail since yesterday. Find out why and fix {source}.",
        f"Add input validation to {target} in {source} and make sure `{test_command}` passes.",
        f"Refactor {source}: {target} is too slow on large inputs. Keep the behaviour.",
        f"CI is red on main ({test_command}). Please investigate and fix it.",
    )))
    episode.step("plan")
    limit_steps = rng.randint(9, 20)
    if rng.random() < 0.5:
        call_id = episode.call("search_code", {"pattern": target, "glob": f"**/*.{extension}"})
        hits = "\n".join(f"{source}:{rng.randint(1, 200)}: {DEFINITION[language].format(target)}" if i == 0 else
                         f"{rng.choice((source, tests))}:{rng.randint(1, 200)}:     {rng.choice(('result = ', 'assert ', 'let x = ', ''))}{target}({identifier(rng)})"
                         for i in range(rng.randint(2, 6)))
        episode.result(call_id, hits)
        episode.step()
    call_id = episode.call("read_file", {"path": source}, rng.choice((None, f"Reading {source}.")))
    if faults and rng.random() < 0.4:
        episode.result(call_id, f"Error: [Errno 2] No such file or directory: '{source.replace('src/', '')}'")
        episode.step()
        call_id = episode.call("read_file", {"path": source.replace("src/", "")},
                               "Maybe the path is relative to the package.")
        episode.result(call_id, f"Error: [Errno 2] No such file or directory: '{source.replace('src/', '')}'")
        episode.step()
        call_id = episode.call("read_file", {"path": source}, "Back to the original path; listing showed it exists.")
    code = "\n".join(text for _, text in functions)
    episode.result(call_id, truncate(code, max(400, episode.room() - 1500)))
    episode.step()
    while not episode.full() and episode.step_index < limit_steps:
        call_id = episode.call("run_tests", {"command": test_command})
        if faults and rng.random() < 0.3:
            episode.result(call_id, rng.choice(("Error: command timed out after 120 s",
                                                f"Error: {test_command.split()[0]}: command not found")))
            episode.step()
            call_id = episode.call("run_tests", {"command": test_command}, "Trying the test command again.")
        output = failing_test_output(rng, language, module, target)
        episode.result(call_id, truncate(output, max(300, episode.room() - 1200)))
        episode.step()
        if episode.full() or episode.step_index >= limit_steps:
            break
        _, fixed = make_function(rng)
        fixed = fixed.replace(fixed.split("(")[0].split()[-1], target, 1)
        arguments = {"path": source, "content": code.replace(functions[0][1], fixed) if rng.random() < 0.5 else fixed}
        explanation = rng.choice((f"The failure comes from {target}; rewriting it.", "Applying the fix.",
                                  f"Guarding against empty input in {target}.", None))
        if faults and rng.random() < 0.3:
            # A malformed call: the arguments are cut off mid-string, as a model sometimes emits them.
            raw = json.dumps(arguments)
            raw = raw[:rng.randint(len(raw) // 3, len(raw) - 2)]
            call_id = episode.call("write_file", None, explanation, raw_arguments=raw)
            column = raw.rfind('"') + 1
            episode.result(call_id, f"Error: tool arguments are not valid JSON: Unterminated string starting at: "
                                    f"line 1 column {column} (char {column - 1})")
            episode.outcome(episode.step_index - 1, tool_call_valid=False)
            episode.step()
        call_id = episode.call("write_file", arguments, explanation)
        episode.result(call_id, f"wrote {len(arguments['content'])} bytes to {source}")
        episode.step()
        code = arguments["content"]
        if rng.random() < 0.35:
            call_id = episode.call("run_tests", {"command": test_command})
            summary = {"python": f"{rng.randint(5, 60)} passed in {rng.uniform(0.1, 5):.2f}s",
                       "javascript": f"Tests:       {rng.randint(5, 60)} passed, {rng.randint(5, 60)} total",
                       "go": f"ok  \texample.com/app/internal/{module}\t{rng.uniform(0.01, 2):.3f}s",
                       "rust": f"test result: ok. {rng.randint(3, 40)} passed; 0 failed; 0 ignored"}[language]
            episode.result(call_id, summary)
            if episode.step_index >= 8 or episode.full():
                episode.step()
                break
            # Green, and the user has more: the session goes on.
            episode.say("user", rng.choice((f"Thanks. Now add a test for the empty input case of {target}.",
                                            f"Good. Can you also make {target} handle negative numbers?",
                                            "Nice. Please also update the docstring/comments to match.",
                                            f"Also run the linter on {source} and fix what it reports.")))
            episode.step()


# --- Data and arithmetic --------------------------------------------------------------------------------

def table(rng, rows):
    dimension = rng.choice((("region", ["North", "South", "East", "West", "Central", "Coastal"]),
                            ("month", ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct"]),
                            ("store", [make_place(rng) for _ in range(8)]),
                            ("product", [identifier(rng) for _ in range(8)])))
    measures = rng.sample(("units", "revenue", "cost", "returns", "visits", "orders", "hours", "defects"),
                          rng.randint(2, 4))
    header = [dimension[0]] + measures
    body = []
    for key in rng.sample(dimension[1], min(rows, len(dimension[1]))):
        row = [key]
        for measure in measures:
            if measure in ("revenue", "cost"):
                row.append(f"{rng.uniform(100, 99999):.2f}")
            else:
                row.append(str(rng.randint(0, 5000)))
        body.append(row)
    return header, body


def csv_text(header, body):
    return "\n".join(",".join(row) for row in [header] + body)


def markdown_table(header, body):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def data(rng, episode, faults):
    header, body = table(rng, rng.randint(4, 10))
    measure = rng.choice(header[1:])
    name = f"data/{identifier(rng)}_{rng.randint(2019, 2025)}.csv"
    if rng.random() < 0.25:
        # No tools: the numbers are in the conversation, the answer must be JSON.
        episode.tools = None
        episode.response_format = {"type": "json_object"}
        episode.say("system", system_prompt(rng, "a data assistant that answers with one JSON object"))
        episode.say("user", f"Here is a table:\n\n{markdown_table(header, body)}\n\nReturn JSON with the total and "
                            f"the mean of {measure}, and the {header[0]} with the largest {measure}.")
        episode.step()
        question = "summary"
        for _ in range(rng.randint(3, 7)):
            values = [float(row[header.index(measure)]) for row in body]
            if question == "median":
                ordered = sorted(values)
                middle = len(ordered) // 2
                median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
                answer = {"measure": measure, "median": round(median, 2), "rows": len(values)}
            elif question == "share":
                answer = {"measure": measure, "top_two_share": round((values[0] + values[1]) / sum(values), 4)
                          if sum(values) else None}
            else:
                answer = {"measure": measure, "total": round(sum(values), 2), "mean": round(sum(values) / len(values), 2),
                          "max_" + header[0]: body[values.index(max(values))][0]}
            episode.say("assistant", json.dumps(answer))
            other = rng.choice(header[1:])
            question, text = rng.choice((("summary", f"Now the same for {other}."),
                                         ("median", f"Add the median of {other}."),
                                         ("share", f"What share of the total {other} comes from the top two rows?")))
            episode.say("user", text)
            measure = other
            episode.step()
        return
    episode.say("system", system_prompt(rng, "a data analyst with a Python sandbox"))
    episode.say("user", rng.choice((
        f"Load {name} and tell me the total {measure} per {header[0]}, and which {header[0]} grew the most.",
        f"Using {name}, compute the average {measure} and flag rows more than two standard deviations away.",
        f"What is the ratio of {header[1]} to {header[-1]} in {name}? Give a table.",
        f"Check {name} for errors (negative or missing values) and summarise {measure}.",
    )))
    episode.step("plan")
    call_id = episode.call("read_file", {"path": name})
    episode.result(call_id, truncate(csv_text(header, body), 3000))
    episode.step()
    limit_steps = rng.randint(8, 16)
    while not episode.full() and episode.step_index < limit_steps:
        column = header.index(measure)
        code = rng.choice((
            f"import csv\nrows = list(csv.DictReader(open('{name}')))\nvalues = [float(r['{measure}']) for r in rows]\n"
            f"print(sum(values), sum(values) / len(values))",
            f"import pandas as pd\ndf = pd.read_csv('{name}')\nprint(df.groupby('{header[0]}')['{measure}'].sum().sort_values())",
            f"import statistics as st\nvals = [{', '.join(row[column] for row in body)}]\nprint(st.mean(vals), st.pstdev(vals))",
            f"total = {' + '.join(row[column] for row in body)}\nprint(round(total, 2))",
        ))
        call_id = episode.call("python", {"code": code}, rng.choice((None, "Computing the figures.")))
        values = [float(row[column]) for row in body]
        if faults and rng.random() < 0.3:
            episode.result(call_id, rng.choice((
                "Traceback (most recent call last):\n  File \"<stdin>\", line 1, in <module>\n"
                "ModuleNotFoundError: No module named 'pandas'",
                f"Traceback (most recent call last):\n  File \"<stdin>\", line 3, in <module>\n"
                f"ValueError: could not convert string to float: '{rng.choice(('n/a', '', '1,204', '-'))}'",
                "Error: sandbox exceeded memory limit (512 MB)")))
            episode.step()
            code = code.replace("import pandas as pd\ndf = pd.read_csv", "import csv\nrows = csv.DictReader(open")
            call_id = episode.call("python", {"code": code}, "Falling back to the standard library.")
        mean = sum(values) / len(values)
        output = rng.choice((f"{sum(values):.2f} {mean:.4f}",
                             "\n".join(f"{row[0]:<12} {row[column]:>12}" for row in sorted(body, key=lambda r: float(r[column]))),
                             f"{mean:.6f} {(sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5:.6f}"))
        episode.result(call_id, output)
        episode.step()
        measure = rng.choice(header[1:])
        if rng.random() < 0.3:
            new_header, new_body = table(rng, rng.randint(3, 8))
            call_id = episode.call("read_file", {"path": name.replace(".csv", "_prev.csv")}, "Comparing with last year.")
            episode.result(call_id, csv_text(new_header, new_body))
            episode.step()
        if rng.random() < 0.25:
            report = f"# {measure.title()} by {header[0]}\n\n{markdown_table(header, body[:5])}\n"
            call_id = episode.call("write_file", {"path": "report.md", "content": report})
            episode.result(call_id, f"wrote {len(report)} bytes to report.md")
            episode.step()


# --- Chat -----------------------------------------------------------------------------------------------

def chat_reply(rng, subject):
    openers = ("Sure!", "Here's a suggestion.", "Good question.", "Happy to help.", "Of course.")
    points = []
    for i in range(rng.randint(2, 4)):
        topic = rng.choice(TOPICS)
        points.append(rng.choice((
            f"{i + 1}. Start with {rng.choice(ADJECTIVES)} steps: {rng.choice(('one', 'two', 'three'))} small goals for {subject}.",
            f"- Keep it {rng.choice(ADJECTIVES)}; most people underestimate {topic[1]}.",
            f"- Ask {make_person(rng)} for a second opinion on the {rng.choice(('tone', 'timing', 'budget', 'structure'))}.",
            f"{i + 1}. Allow about {rng.randint(10, 90)} minutes for the {rng.choice(('first', 'hardest', 'last'))} part.",
            f"- A good example is {make_place(rng)}, where {topic[0]} changed how people {rng.choice(('commute', 'shop', 'study', 'work'))}.",
        )))
    return rng.choice(openers) + "\n\n" + "\n".join(points)


def chat(rng, episode, faults):
    episode.tools = None
    template, subject = rng.choice(CHAT_TOPICS)
    ask = template.format(place=make_place(rng), person=make_person(rng), topic=rng.choice(TOPICS)[0],
                          n=rng.randint(2, 6))
    episode.say("system", rng.choice(("You are a helpful assistant.", "You are a friendly, concise assistant.",
                                      "You are an assistant. Keep answers under 200 words.")))
    if subject == "writing" and "paragraph" in ask:
        ask += ":\n\n" + " ".join(sentence(rng, rng.choice(TOPICS), make_company(rng), rng.randint(2015, 2025))
                                  for _ in range(3))
    episode.say("user", ask[0].upper() + ask[1:] + rng.choice(("", "?", ".", " please.")))
    episode.step()
    for _ in range(rng.randint(6, 14)):
        if episode.full():
            break
        episode.say("assistant", chat_reply(rng, subject))
        episode.say("user", rng.choice(CHAT_FOLLOWUPS))
        episode.step()


# --- The corpus -----------------------------------------------------------------------------------------

def make_episode(seed, prefix):
    rng = random.Random(seed)
    kinds, weights = zip(*KIND_WEIGHTS)
    kind = rng.choices(kinds, weights)[0]
    faults = kind == "faulty"
    if faults:
        kind = rng.choice(("research", "coding", "data"))
    tools = {"research": [WEB_SEARCH, READ_URL, WRITE_FILE] + ([PYTHON] if rng.random() < 0.4 else []),
             "coding": [READ_FILE, WRITE_FILE, RUN_TESTS, SEARCH_CODE],
             "data": [READ_FILE, PYTHON, WRITE_FILE],
             "chat": None}[kind]
    episode = Episode(rng, f"{prefix}-{seed}", tools, labels_kinds=rng.random() < 0.5,
                      max_tokens=rng.choice((256, 512, 1024, 2048)), context_chars=rng.randint(6000, 12000))
    {"research": research, "coding": coding, "data": data, "chat": chat}[kind](rng, episode, faults)
    if episode.pending:  # observations after the last step: the agent would be asked once more
        episode.step()
    if rng.random() < 0.5:
        episode.outcome(episode.step_index - 1, episode_reward=round(rng.uniform(0, 1), 2))
    return ("faulty-" if faults else "") + kind, episode.lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=sorted(SPLIT_SEED_BASE))
    parser.add_argument("--episodes", type=int, default=20, help="episodes of the split (default 20)")
    parser.add_argument("--seeds", help="A:B, seeds A..B-1 instead of a split")
    parser.add_argument("-o", "--output", default="-", help="the JSONL file (default stdout)")
    parser.add_argument("--stats", action="store_true", help="print what was generated to stderr")
    args = parser.parse_args()
    if (args.split is None) == (args.seeds is None):
        parser.error("give exactly one of --split and --seeds")
    if args.split:
        if not 0 < args.episodes <= SPLIT_MAX_EPISODES:
            parser.error(f"--episodes must be 1..{SPLIT_MAX_EPISODES} (the splits' seed ranges must not overlap)")
        base = SPLIT_SEED_BASE[args.split]
        seeds, prefix = range(base, base + args.episodes), args.split
    else:
        try:
            first, last = (int(part) for part in args.seeds.split(":"))
        except ValueError:
            parser.error(f"--seeds {args.seeds!r}: expected A:B (two integers)")
        if not first < last:
            parser.error(f"--seeds {args.seeds!r}: A must be below B")
        seeds, prefix = range(first, last), "episode"
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    kinds, steps, chars = {}, 0, []
    for seed in seeds:
        kind, lines = make_episode(seed, prefix)
        kinds[kind] = kinds.get(kind, 0) + 1
        total = 0
        for line in lines:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            if "messages" in line:
                steps += 1
                total += sum(len(m["content"] or "") + sum(len(c["function"]["arguments"]) for c in m.get("tool_calls", ()))
                             for m in line["messages"])
        chars.append(total)
    if out is not sys.stdout:
        out.close()
    if args.stats:
        print(f"{len(seeds)} episodes, {steps} steps; kinds {dict(sorted(kinds.items()))}; conversation "
              f"characters per episode min {min(chars)} mean {sum(chars) // len(chars)} max {max(chars)}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
