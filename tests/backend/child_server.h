// A loopback test server written in Python (openai_server.py, shadow_server.py, vllm_disagg_server.py,
// tests/soak/tier_server.py) run as a child process. Each of those scripts prints "PORT n" once it listens
// on 127.0.0.1 and stops when its stdin reaches EOF, so the child's stdin is a pipe that only this object
// holds open: closing it (or SIGTERM) stops the server. The interpreter is QC_PYTHON, the one CMake found.
#ifndef QUANTCLAW_TESTS_BACKEND_CHILD_SERVER_H_
#define QUANTCLAW_TESTS_BACKEND_CHILD_SERVER_H_

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#ifndef QC_PYTHON
#error "child_server.h runs its scripts with QC_PYTHON: give the test target QC_PYTHON=\"${QUANTCLAW_SYSTEM_PYTHON}\""
#endif

namespace quantclaw_test {

class ChildServer {
 public:
  // Starts `QC_PYTHON script arguments...` and waits for its port. `name` is what the abort message calls
  // it ("the test server did not start: ...").
  ChildServer(std::string name, std::string script, std::vector<std::string> arguments = {})
      : name_(std::move(name)), script_(std::move(script)) {
    Start(std::move(arguments));
  }
  ~ChildServer() { Stop(false); }
  ChildServer(const ChildServer&) = delete;
  ChildServer& operator=(const ChildServer&) = delete;

  // Starts the server again after Stop, with these arguments (the soak restarts a killed tier on the port it
  // had). A server that does not say "PORT n" aborts the test binary: every test after it would only fail
  // for the same reason, less clearly.
  void Start(std::vector<std::string> arguments) {
    if (pid_ > 0) Stop(false);
    // argv is built before fork: the soak forks while its worker threads run, and a child of a threaded
    // process may only call async-signal-safe functions (no allocation) until it execs.
    std::vector<char*> argv = {const_cast<char*>(QC_PYTHON), script_.data()};
    for (std::string& argument : arguments) argv.push_back(argument.data());
    argv.push_back(nullptr);
    // Close-on-exec, so that a server started later does not inherit this one's pipe ends (and hold its
    // stdin open); dup2 onto 0 and 1 in the child clears the flag where it is wanted.
    int to_child[2], from_child[2];
    if (pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0) std::abort();
    pid_ = fork();
    if (pid_ == 0) {
      dup2(to_child[0], 0);
      dup2(from_child[1], 1);
      close(to_child[1]);
      close(from_child[0]);
      execv(QC_PYTHON, argv.data());
      _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    stdin_ = to_child[1];
    out_ = fdopen(from_child[0], "r");
    char line[64] = {};
    if (out_ == nullptr || std::fgets(line, sizeof(line), out_) == nullptr || std::sscanf(line, "PORT %d", &port_) != 1) {
      std::string command = script_;
      for (const std::string& argument : arguments) command += " " + argument;
      std::fprintf(stderr, "the %s did not start: %s %s\n", name_.c_str(), QC_PYTHON, command.c_str());
      std::abort();
    }
  }

  // A clean stop closes stdin and sends SIGTERM. kill_hard sends SIGKILL first, so the server dies as a
  // crashed tier does, with its connections cut and its record of requests lost. Waits for the child either
  // way, so the port is free for a Start on it. Does nothing when already stopped.
  void Stop(bool kill_hard) {
    if (pid_ <= 0) return;
    if (kill_hard) kill(pid_, SIGKILL);
    close(stdin_);
    if (!kill_hard) kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    std::fclose(out_);
    pid_ = -1;
    stdin_ = -1;
    out_ = nullptr;
  }

  int port() const { return port_; }

  // The body of GET `path` on the server, fetched with the curl command line rather than with the client
  // under test (what the server recorded, for instance).
  std::string Get(const std::string& path) const {
    const std::string command = "curl -s http://127.0.0.1:" + std::to_string(port_) + path;
    FILE* pipe = popen(command.c_str(), "r");
    std::string text;
    if (pipe == nullptr) return text;
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) text.append(buffer, n);
    pclose(pipe);
    return text;
  }

 private:
  std::string name_, script_;
  pid_t pid_ = -1;
  int stdin_ = -1;
  int port_ = 0;
  FILE* out_ = nullptr;
};

}  // namespace quantclaw_test

#endif  // QUANTCLAW_TESTS_BACKEND_CHILD_SERVER_H_
