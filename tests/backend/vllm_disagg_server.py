#!/usr/bin/env python3
"""A loopback stand-in for a vLLM prefill/decode pair with a KV connector (NixlConnector), checking the wire
shape of both hops of disaggregated prefill as vLLM's proxies send them
(tests/v1/kv_connector/nixl_integration/toy_proxy_server.py, examples/online_serving/disaggregated_serving):

  prefill hop  kv_transfer_params {"do_remote_decode": true, "do_remote_prefill": false, "remote_engine_id":
               null, "remote_block_ids": null, "remote_host": null, "remote_port": null}, max_tokens 1
               (max_completion_tokens 1 when the host sent one), stream false, no stream_options, no
               min_tokens; answered with one token and the kv_transfer_params the decode side needs
               (do_remote_prefill true, the engine id, block ids, host and port), as vLLM does.
  decode hop   the host's request as it was (max_tokens, stream) plus exactly the kv_transfer_params the
               prefill hop returned for the same X-Request-Id.

The request's "model" picks the role: "vllm-prefill", "vllm-decode", or "vllm-prefill-off" (a prefill server
whose KV connector is off: it answers without kv_transfer_params). Anything off the expected shape is
recorded as a violation. GET /requests returns every request seen: hop, model, path, stream, max_tokens, the
X-Request-Id, the kv_transfer_params received and the violations. Prints "PORT <n>"; stops on stdin EOF.
Nothing here is vLLM: it shows what quantclaw sends, not what a real vLLM accepts.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECEIVED = []
ISSUED = {}  # X-Request-Id -> the kv_transfer_params the prefill hop returned
LOCK = threading.Lock()
PREFILL_PARAMS = {"do_remote_decode": True, "do_remote_prefill": False, "remote_engine_id": None,
                  "remote_block_ids": None, "remote_host": None, "remote_port": None}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, code, document):
        data = json.dumps(document).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with LOCK:
            self.send_json(200, RECEIVED)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        chat = self.path.endswith("/chat/completions")
        model = body.get("model", "")
        request_id = self.headers.get("X-Request-Id", "")
        params = body.get("kv_transfer_params")
        violations = []
        record = {"model": model, "path": self.path, "stream": body.get("stream"), "max_tokens": body.get("max_tokens"),
                  "request_id": request_id, "kv_transfer_params": params, "violations": violations}
        if model.startswith("vllm-prefill"):
            record["hop"] = "prefill"
            if params != PREFILL_PARAMS:
                violations.append("prefill kv_transfer_params %r" % (params,))
            if body.get("max_tokens") != 1:
                violations.append("prefill max_tokens %r" % body.get("max_tokens"))
            if "max_completion_tokens" in body and body["max_completion_tokens"] != 1:
                violations.append("prefill max_completion_tokens %r" % body["max_completion_tokens"])
            if body.get("stream") is not False:
                violations.append("prefill stream %r" % body.get("stream"))
            for key in ("stream_options", "min_tokens", "min_completion_tokens"):
                if key in body:
                    violations.append("prefill carries " + key)
            if not request_id:
                violations.append("prefill without X-Request-Id")
            answer = {"id": "cmpl-p", "object": "chat.completion" if chat else "text_completion", "model": model,
                      "usage": {"prompt_tokens": 40, "completion_tokens": 1, "total_tokens": 41}}
            answer["choices"] = [{"index": 0, "finish_reason": "length",
                                  **({"message": {"role": "assistant", "content": "x"}} if chat else {"text": "x"})}]
            if model == "vllm-prefill":
                returned = {"do_remote_prefill": True, "do_remote_decode": False, "remote_engine_id": "engine-7",
                            "remote_block_ids": [3, 4, 5], "remote_host": "127.0.0.1", "remote_port": 5600,
                            "tp_size": 1, "request_id": request_id}
                answer["kv_transfer_params"] = returned
                with LOCK:
                    ISSUED[request_id] = returned
            with LOCK:
                RECEIVED.append(record)
            self.send_json(200, answer)
            return
        record["hop"] = "decode"
        with LOCK:
            expected = ISSUED.get(request_id)
        if params is not None and params != expected:
            violations.append("decode kv_transfer_params %r, the prefill hop returned %r" % (params, expected))
        text = "decoded remotely" if params is not None else "decoded cold"
        with LOCK:
            RECEIVED.append(record)
        if not body.get("stream"):
            answer = {"id": "cmpl-d", "object": "chat.completion" if chat else "text_completion", "model": model,
                      "usage": {"prompt_tokens": 40, "completion_tokens": 2, "total_tokens": 42}}
            answer["choices"] = [{"index": 0, "finish_reason": "stop",
                                  **({"message": {"role": "assistant", "content": text}} if chat else {"text": text})}]
            self.send_json(200, answer)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for piece in text.split(" "):
            delta = {"delta": {"content": piece + " "}} if chat else {"text": piece + " "}
            event = {"id": "cmpl-d", "model": model, "choices": [{"index": 0, **delta}]}
            self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
        usage = {"id": "cmpl-d", "model": model, "choices": [],
                 "usage": {"prompt_tokens": 40, "completion_tokens": 2, "total_tokens": 42}}
        self.wfile.write(b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print("PORT %d" % server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
