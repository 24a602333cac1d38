// A minimal OpenAI-compatible HTTP/1.1 server on 127.0.0.1 for benchmarks: keep-alive, a fixed chat
// completion, or a stream of `chunks` SSE events. Fast and in-process, so that what a benchmark times
// is the client, not a server's scheduling.
#ifndef QUANTCLAW_TESTS_BENCH_LOOPBACK_SERVER_H_
#define QUANTCLAW_TESTS_BENCH_LOOPBACK_SERVER_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

class LoopbackServer {
 public:
  explicit LoopbackServer(int chunks) : chunks_(chunks) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    int yes = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    socklen_t length = sizeof(address);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    listen(listener_, 64);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~LoopbackServer() {
    stopping_ = true;
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    accept_thread_.join();
    // Keep-alive clients may still hold connections: end them so their threads return.
    for (int client : clients_) shutdown(client, SHUT_RDWR);
    for (std::thread& thread : connections_) thread.join();
    for (int client : clients_) close(client);  // closed only here, so no descriptor is reused early
  }
  int port() const { return port_; }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      int client = accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      int yes = 1;
      setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
      clients_.push_back(client);
      connections_.emplace_back([this, client] { Serve(client); });
    }
  }

  static bool SendAll(int socket, const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = send(socket, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  void Serve(int client) {
    std::string buffer;
    char chunk[65536];
    while (!stopping_) {
      size_t header_end;
      while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = recv(client, chunk, sizeof(chunk), 0);
        if (n <= 0) return;
        buffer.append(chunk, static_cast<size_t>(n));
      }
      size_t length = 0;
      size_t at = buffer.find("Content-Length: ");
      if (at == std::string::npos) at = buffer.find("content-length: ");
      if (at != std::string::npos && at < header_end) length = std::stoul(buffer.substr(at + 16));
      while (buffer.size() < header_end + 4 + length) {
        ssize_t n = recv(client, chunk, sizeof(chunk), 0);
        if (n <= 0) return;
        buffer.append(chunk, static_cast<size_t>(n));
      }
      std::string body = buffer.substr(header_end + 4, length);
      buffer.erase(0, header_end + 4 + length);
      bool stream = body.find("\"stream\":true") != std::string::npos;
      if (!(stream ? SendStream(client) : SendCompletion(client))) return;
    }
  }

  bool SendCompletion(int client) {
    static const std::string kBody =
        R"({"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"finish_reason":"stop",)"
        R"("message":{"role":"assistant","content":")" + std::string(512, 'a') +
        R"("}}],"usage":{"prompt_tokens":100,"completion_tokens":128,"total_tokens":228}})";
    return SendAll(client, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                               std::to_string(kBody.size()) + "\r\n\r\n" + kBody);
  }

  // Chunked transfer encoding, as servers stream SSE over keep-alive connections.
  bool SendStream(int client) {
    std::string events;
    for (int i = 0; i < chunks_; ++i) {
      events += R"(data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"tok "}}]})";
      events += "\n\n";
    }
    events += R"(data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[],"usage":{"prompt_tokens":100,"completion_tokens":)" +
              std::to_string(chunks_) + "}}\n\ndata: [DONE]\n\n";
    char size[32];
    std::snprintf(size, sizeof(size), "%zx\r\n", events.size());
    return SendAll(client, std::string("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n") +
                               size + events + "\r\n0\r\n\r\n");
  }

  int chunks_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::vector<std::thread> connections_;
  std::vector<int> clients_;
};

#endif  // QUANTCLAW_TESTS_BENCH_LOOPBACK_SERVER_H_
