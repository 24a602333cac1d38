#!/usr/bin/env python3
"""A loopback OpenAI-compatible server for quantclaw's backend tests, speaking real HTTP and SSE.

The request's "model" picks the behaviour, so each tier of a test config is one behaviour:
  echo          a normal answer ("echo: <last user text>"), streamed when asked, with usage
  tool          a streamed or plain tool call (get_weather), arguments split across chunks
  badtool       the same tool call with arguments that break its schema ({"city": 5})
  http500       HTTP 500 with an error body
  reset         two stream chunks, then a TCP reset
  truncated     two stream chunks, then a clean close without [DONE]
  invalid-json  a body (or stream event) that is not JSON
  stall         nothing for 5 seconds
  huge          a 2 MiB body
  judge         a QuantClaw judge's answer: {"taskTypeId": "coding"} inside prose
  judge-bad     a judge answer with no JSON in it
  logprobs      a streamed answer with logprobs (chat shape on /chat/completions, legacy on /completions)
  echo-cr       echo with every SSE line ended by a CR alone
  after-done    two stream chunks, [DONE], then more chunks, holding the connection open for 5 seconds
  done-hold     two stream chunks, [DONE], then nothing, holding the connection open for 5 seconds
  error-mid     one stream chunk, then vLLM's error event ({"error": {..., "code": 400}}), then [DONE]
  error-first   vLLM's error event with code 500 before any chunk, then [DONE]
  agent-*       a scripted agent step for end-to-end tests of hosts (OpenClaw) with their own tools. A turn
                is what follows the newest assistant answer (text, no tool calls): when it holds a tool
                result it answers in text ("done: <the newest result's first line>"); when a user message
                in it says "Just chat" it answers "chat: ok"; otherwise it calls one of the offered tools
                (ls {"path": "."} when offered, else the first with {}); streamed or plain. So a
                multi-turn test mixes tool loops and plain turns
GET /requests returns what it was sent (model, stream, authorization, path, the number of tool results,
the offered tool names, the messages' roles, the user messages' last 300 characters), for tests to check the rewrite on the wire. Prints "PORT <n>" when it listens on
127.0.0.1; stops on SIGTERM or stdin EOF. With --tls CERT KEY it speaks HTTPS with that certificate.

Models that echo what they were sent, as careless servers do, for tests that no key leaks:
  leak401, leak500  HTTP 401 / 500 whose error body carries the request's headers
  leak-cut          HTTP 500 whose body's 200th byte falls inside the echoed Authorization header
  leak-invalid      a 200 body that is not JSON and starts with the request's headers
  leak-event        a stream whose error event's message carries the request's headers
"""

import json
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECEIVED = []
LOCK = threading.Lock()


def last_user_text(body):
    if "prompt" in body:
        return str(body["prompt"])
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def tool_results(body):
    return [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "tool"]


def this_turn(body):
    """The messages after the newest assistant answer (text and no tool calls): the current turn. Hosts
    may append messages of their own (OpenClaw's runtime context, as a user message) after a tool result,
    so a turn does not start at the newest user message."""
    turn = []
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        if message.get("role") == "assistant" and not message.get("tool_calls") and text_of(message.get("content")):
            turn = []
        else:
            turn.append(message)
    return turn


def text_of(content):
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def offered_tools(body):
    return [tool.get("function", {}).get("name", "") for tool in body.get("tools") or [] if isinstance(tool, dict)]


def usage():
    return {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14,
            "prompt_tokens_details": {"cached_tokens": 5}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        if self.path != "/requests":
            self.send_error(404)
            return
        with LOCK:
            payload = json.dumps(RECEIVED).encode()
        self.send_json(200, payload)

    def send_json(self, status, payload, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def event(self, data):
        end = b"\r" if getattr(self, "carriage_returns", False) else b"\n"
        self.wfile.write(b"data: " + (data if isinstance(data, bytes) else json.dumps(data).encode()) + end + end)
        self.wfile.flush()

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        model = body.get("model", "")
        stream = bool(body.get("stream"))
        chat = self.path.endswith("/chat/completions")
        with LOCK:
            RECEIVED.append({"path": self.path, "model": model, "stream": stream,
                             "stream_options": body.get("stream_options"),
                             "authorization": self.headers.get("Authorization"),
                             "tool_results": len(tool_results(body)), "tools": offered_tools(body),
                             "roles": [m.get("role") for m in body.get("messages") or [] if isinstance(m, dict)],
                             "user_texts": [text_of(m.get("content"))[-300:] for m in body.get("messages") or []
                                            if isinstance(m, dict) and m.get("role") == "user"]})
        text = "echo: " + last_user_text(body)

        headers = "".join(f"{name}: {value}\n" for name, value in self.headers.items())
        if model in ("leak401", "leak500"):
            self.send_json(401 if model == "leak401" else 500,
                           json.dumps({"error": {"message": "rejected; you sent:\n" + headers}}).encode())
            return
        if model == "leak-cut":
            echoed = f"Authorization: {self.headers.get('Authorization')}"
            self.send_json(500, (" " * (200 - len("Authorization: Bearer ") - 6) + echoed).encode())
            return
        if model == "leak-invalid":
            self.send_json(200, ("you sent:\n" + headers).encode())
            return
        if model == "leak-event":
            self.start_stream()
            self.event({"error": {"message": "refused; you sent:\n" + headers, "code": 401}})
            self.event(b"[DONE]")
            return
        if model in ("judge", "judge-bad"):
            content = 'Sure: {"taskTypeId": "coding"}' if model == "judge" else "I think it is coding."
            self.send_json(200, json.dumps({"id": "j", "object": "chat.completion", "model": model, "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]}).encode())
            return
        if model == "http500":
            self.send_json(500, b'{"error": {"message": "the tier fell over"}}')
        elif model == "invalid-json":
            if stream:
                self.start_stream()
                self.event(b"{broken")
                self.event(b"[DONE]")
            else:
                self.send_json(200, b"not json{")
        elif model == "stall":
            time.sleep(5)
            self.send_json(200, b"{}")
        elif model == "huge":
            self.send_json(200, b'{"pad": "' + b"x" * (2 << 20) + b'"}')
        elif model in ("reset", "truncated"):
            self.start_stream()
            for piece in ("par", "tial"):
                self.event({"id": "c1", "object": "chat.completion.chunk", "model": model,
                            "choices": [{"index": 0, "delta": {"content": piece}}]})
            if model == "reset":
                # SO_LINGER 0: close sends a TCP reset instead of a FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
        elif model == "no-done":
            # A server that ends its streams without [DONE] (ik_llama.cpp, llamafile): the answer, its
            # finish_reason and usage, then the body ends.
            self.start_stream()
            for piece in ("whole", " answer"):
                self.event({"id": "c8", "object": "chat.completion.chunk", "model": model,
                            "choices": [{"index": 0, "delta": {"content": piece}}]})
            self.event({"id": "c8", "object": "chat.completion.chunk", "model": model,
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            self.event({"id": "c8", "object": "chat.completion.chunk", "model": model, "choices": [], "usage": usage()})
        elif model in ("after-done", "done-hold"):
            self.start_stream()
            for piece in ("par", "tial"):
                self.event({"id": "c5", "object": "chat.completion.chunk", "model": model,
                            "choices": [{"index": 0, "delta": {"content": piece}}]})
            self.event(b"[DONE]")
            if model == "after-done":
                self.event({"id": "c5", "object": "chat.completion.chunk", "model": model,
                            "choices": [{"index": 0, "delta": {"content": " after the end"}}]})
                self.event(b"[DONE]")
            time.sleep(5)
        elif model in ("error-mid", "error-first"):
            self.start_stream()
            if model == "error-mid":
                self.event({"id": "c6", "object": "chat.completion.chunk", "model": model,
                            "choices": [{"index": 0, "delta": {"content": "par"}}]})
                error = {"object": "error", "message": "the sampler failed", "type": "BadRequestError",
                         "param": None, "code": 400}
            else:
                error = {"object": "error", "message": "the engine died", "type": "InternalServerError",
                         "param": None, "code": 500}
            self.event({"error": error})
            self.event(b"[DONE]")
        elif model in ("thinker", "thinker-old"):
            # A reasoning model: its thinking as "reasoning" (vLLM since RFC #27755) or "reasoning_content"
            # (llama-server, SGLang, older vLLM), then its answer.
            field = "reasoning" if model == "thinker" else "reasoning_content"
            if not stream:
                self.send_json(200, json.dumps({"id": "c7", "object": "chat.completion", "model": model, "choices": [
                    {"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", field: "Let me think.", "content": "The answer."}}],
                    "usage": usage()}).encode())
                return
            self.start_stream()
            self.event({"id": "c7", "object": "chat.completion.chunk", "model": model,
                        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
            for piece in ("Let me", " think."):
                self.event({"id": "c7", "object": "chat.completion.chunk", "model": model,
                            "choices": [{"index": 0, "delta": {field: piece}}]})
            self.event({"id": "c7", "object": "chat.completion.chunk", "model": model,
                        "choices": [{"index": 0, "delta": {"content": "The answer."}, "finish_reason": "stop"}]})
            self.event(b"[DONE]")
        elif model == "logprobs" and stream:
            self.start_stream()
            for token, logprob in (("Hi", -0.1), ("!", -1.5)):
                if chat:
                    choice = {"index": 0, "delta": {"content": token}, "logprobs": {"content": [
                        {"token": token, "logprob": logprob, "top_logprobs": [{"token": token, "logprob": logprob}]}]}}
                else:
                    choice = {"index": 0, "text": token, "logprobs": {"tokens": [token], "token_logprobs": [logprob],
                                                                    "top_logprobs": [{token: logprob}]}}
                self.event({"id": "c4", "object": "chat.completion.chunk", "model": model, "choices": [choice]})
            self.event(b"[DONE]")
        elif model.startswith("agent-") and any(message.get("role") == "tool" for message in this_turn(body)):
            result = text_of(tool_results(body)[-1].get("content")).strip().splitlines() or [""]
            self.answer(model, stream, chat, "done: " + result[0][:80])
        elif model.startswith("agent-") and any(message.get("role") == "user" and "Just chat" in text_of(message.get("content"))
                                                for message in this_turn(body)):
            self.answer(model, stream, chat, "chat: ok")
        elif model.startswith("agent-"):
            tools = offered_tools(body)
            name, arguments = ("ls", '{"path": "."}') if "ls" in tools else ((tools or ["none"])[0], "{}")
            self.tool_call(model, stream, name, [arguments[:4], arguments[4:]])
        elif model in ("tool", "badtool"):
            arguments = ['{"city": ', '"Paris"}'] if model == "tool" else ['{"city": ', '5}']
            self.tool_call(model, stream, "get_weather", arguments)
        else:  # echo, echo-cr
            self.carriage_returns = model == "echo-cr"
            self.answer(model, stream, chat, text)

    def tool_call(self, model, stream, name, arguments):
        if not stream:
            self.send_json(200, json.dumps({
                "id": "c2", "object": "chat.completion", "model": model,
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                    "role": "assistant", "content": None, "tool_calls": [{
                        "id": "call_1", "type": "function",
                        "function": {"name": name, "arguments": "".join(arguments)}}]}}],
                "usage": usage()}).encode())
            return
        self.start_stream()
        self.event({"id": "c2", "object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": {
            "role": "assistant", "tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                 "function": {"name": name, "arguments": ""}}]}}]})
        for piece in arguments:
            self.event({"id": "c2", "object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": {
                "tool_calls": [{"index": 0, "function": {"arguments": piece}}]}}]})
        self.event({"id": "c2", "object": "chat.completion.chunk", "model": model,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
        self.event({"id": "c2", "object": "chat.completion.chunk", "model": model, "choices": [], "usage": usage()})
        self.event(b"[DONE]")

    def answer(self, model, stream, chat, text):
        if not stream:
            if chat:
                answer = {"id": "c3", "object": "chat.completion", "model": model,
                          "choices": [{"index": 0, "finish_reason": "stop",
                                       "message": {"role": "assistant", "content": text}}], "usage": usage()}
            else:
                answer = {"id": "c3", "object": "text_completion", "model": model,
                          "choices": [{"index": 0, "finish_reason": "stop", "text": text}], "usage": usage()}
            self.send_json(200, json.dumps(answer).encode())
            return
        self.start_stream()
        pieces = [text[i:i + 4] for i in range(0, len(text), 4)]
        for piece in pieces:
            if chat:
                choice = {"index": 0, "delta": {"content": piece}}
            else:
                choice = {"index": 0, "text": piece}
            self.event({"id": "c3", "object": "chat.completion.chunk", "model": model, "choices": [choice]})
        self.event({"id": "c3", "object": "chat.completion.chunk", "model": model,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        self.event({"id": "c3", "object": "chat.completion.chunk", "model": model, "choices": [], "usage": usage()})
        self.event(b"[DONE]")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Clients that cancel, time out or are reset on purpose close mid-answer: not an error here.
        error = sys.exc_info()[1]
        if not isinstance(error, (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def main():
    server = Server(("127.0.0.1", 0), Handler)
    if len(sys.argv) == 4 and sys.argv[1] == "--tls":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"PORT {server.server_address[1]}", flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # The test owns this process: when its end of stdin closes, stop.
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
