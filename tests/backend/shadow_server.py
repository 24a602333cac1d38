#!/usr/bin/env python3
"""A loopback double of the scoring endpoints shadow sampling calls, in llama-server's and vLLM's wire
shapes, for quantclaw's shadow tests (tests/backend/shadow_server_test.cc).

A tier is a path prefix: base_url http://127.0.0.1:PORT/<tier>/v1 puts llama-server's native endpoints at
/<tier>/apply-template, /<tier>/tokenize, /<tier>/completion and vLLM's at /<tier>/tokenize,
/<tier>/v1/completions. The tokenizer is one token per UTF-8 byte (token id = byte value), so a multi-byte
character is several tokens, as with a byte-fallback vocabulary.

The model: after a context whose last token is t, the next-token distribution is
  ref*   {t+1: 0.5, t+2: 0.3, t+3: 0.1}, the rest of the mass in the tail
  low*   {t+1: 0.3, t+2: 0.3, t+3: 0.3}
(ids mod 256), so KL(ref || low) > 0 at every position and the two tiers never agree exactly.

Behaviours, by words in the tier's name:
  holdback  llama-server's UTF-8 hold-back: /completion gives no completion_probabilities when the token
            it generates (the likeliest, t+1) is a lone byte of a multi-byte UTF-8 character (>= 0x80)
  silent    /completion never gives completion_probabilities (a server that does not report n_probs)
vLLM requests are checked as vLLM would check them: "model" must be the tier's name (the test's config
names each tier's model after it), max_tokens 1 and prompt_logprobs an integer in 1..20, else HTTP 400.

POST /requests returns every request received ({"path", "body"}); POST /reset clears them. Prints
"PORT <n>" when it listens on 127.0.0.1; stops on SIGTERM or stdin EOF.
"""

import json
import math
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECEIVED = []
LOCK = threading.Lock()


def template(messages):
    """The double's chat template: the text /apply-template returns and vLLM's chat /tokenize tokenises."""
    text = ""
    for message in messages:
        content = message.get("content")
        text += "<%s>%s\n" % (message.get("role"), content if isinstance(content, str) else json.dumps(content))
    return text + "<assistant>"


def tokenize(text):
    return list(text.encode("utf-8"))


def top_k(tier, context, k):
    last = context[-1] if context else 0
    probabilities = [0.5, 0.3, 0.1] if tier.startswith("ref") else [0.3, 0.3, 0.3]
    listed = [((last + 1 + i) % 256, p) for i, p in enumerate(probabilities)][:k]
    return [(token, math.log(p)) for token, p in listed]


def held_back(tier, context):
    """llama-server sends a generated token's text only once it is whole UTF-8; with n_predict 1 a token
    that is a lone byte of a multi-byte character never is, and the answer has no probabilities. The
    double generates its likeliest token, so that happens when that token is a byte >= 0x80."""
    return top_k(tier, context, 1)[0][0] >= 0x80


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, value):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/requests":
            with LOCK:
                self.send_json(200, list(RECEIVED))
        else:
            self.send_json(404, {"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if self.path == "/reset":
            with LOCK:
                RECEIVED.clear()
            self.send_json(200, {})
            return
        if self.path == "/requests":
            with LOCK:
                self.send_json(200, list(RECEIVED))
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self.send_json(400, {"error": "not JSON"})
            return
        with LOCK:
            RECEIVED.append({"path": self.path, "body": body})
        parts = self.path.split("/")
        tier, endpoint = parts[1], "/" + "/".join(parts[2:])
        if endpoint == "/apply-template":
            self.send_json(200, {"prompt": template(body.get("messages", []))})
        elif endpoint == "/tokenize":
            if "content" in body:  # llama-server
                self.send_json(200, {"tokens": tokenize(body["content"])})
                return
            if body.get("model") != tier:
                self.send_json(400, {"error": "model %r is not %r" % (body.get("model"), tier)})
                return
            if "messages" in body:  # vLLM's chat form
                if body.get("add_generation_prompt") is not True:
                    self.send_json(400, {"error": "the double expects add_generation_prompt: true"})
                    return
                tokens = tokenize(template(body["messages"]))
            else:
                tokens = tokenize(body.get("prompt", ""))
            self.send_json(200, {"count": len(tokens), "max_model_len": 4096, "tokens": tokens})
        elif endpoint == "/completion":
            context = body.get("prompt", [])
            k = int(body.get("n_probs", 0))
            if "silent" in tier or ("holdback" in tier and held_back(tier, context)):
                self.send_json(200, {"content": "", "tokens": [], "stop": True})
                return
            top = top_k(tier, context, k)
            self.send_json(200, {"content": "x", "completion_probabilities": [{
                "id": top[0][0], "token": "x", "logprob": top[0][1], "bytes": [120],
                "top_logprobs": [{"id": t, "token": "x", "logprob": lp, "bytes": [120]} for t, lp in top]}]})
        elif endpoint == "/v1/completions":
            k = body.get("prompt_logprobs")
            if body.get("model") != tier or body.get("max_tokens") != 1 or not isinstance(k, int) or not 1 <= k <= 20:
                self.send_json(400, {"object": "error", "message": "bad request: %s" % json.dumps(body)[:200],
                                     "type": "BadRequestError", "code": 400})
                return
            prompt = body.get("prompt")
            if not isinstance(prompt, list) or not prompt:
                self.send_json(400, {"object": "error", "message": "the double expects token ids", "code": 400})
                return
            prompt_logprobs = [None]
            for i in range(1, len(prompt)):
                entries = {}
                for rank, (token, logprob) in enumerate(top_k(tier, prompt[:i], k), start=1):
                    entries[str(token)] = {"logprob": logprob, "rank": rank, "decoded_token": "x"}
                if str(prompt[i]) not in entries:  # vLLM adds the prompt's own token, ranked
                    entries[str(prompt[i])] = {"logprob": math.log(0.001), "rank": 1000, "decoded_token": "y"}
                prompt_logprobs.append(entries)
            self.send_json(200, {"id": "cmpl-1", "object": "text_completion", "model": tier, "choices": [{
                "index": 0, "text": "x", "logprobs": None, "finish_reason": "length", "stop_reason": None,
                "prompt_logprobs": prompt_logprobs}],
                "usage": {"prompt_tokens": len(prompt), "completion_tokens": 1, "total_tokens": len(prompt) + 1}})
        else:
            self.send_json(404, {"error": "no endpoint %s" % endpoint})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print("PORT %d" % server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()  # until the test closes the pipe
    server.shutdown()


if __name__ == "__main__":
    main()
