// Real llama.cpp tiers for tests and benchmarks: llama-server processes serving the tiny generated model
// at f16, q8_0 and q4_0 (cmake/llama-tiers.sh builds the server and the models, cached).
//
// Each server is a child that dies with this process (PR_SET_PDEATHSIG), so a crashed or killed test
// leaves no server behind. Loopback only.
#ifndef QUANTCLAW_TESTS_TIERS_LLAMA_TIERS_H_
#define QUANTCLAW_TESTS_TIERS_LLAMA_TIERS_H_

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>

#include "../backend/loopback_port.h"

namespace quantclaw_test {

// Where the server binary and the models are: `cmake/llama-tiers.sh paths`, which builds them first
// when they are not in the cache. Empty when that fails (no npm registry, no compiler).
struct LlamaPaths {
  std::string server, models, error;
};

inline LlamaPaths FindLlama(const std::string& tiers_script) {
  LlamaPaths paths;
  std::string command = "bash '" + tiers_script + "' paths 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    paths.error = "cannot run " + tiers_script;
    return paths;
  }
  std::string output;
  char line[4096];
  while (std::fgets(line, sizeof(line), pipe) != nullptr) {
    std::string text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (text.rfind("QC_LLAMA_SERVER=", 0) == 0) paths.server = text.substr(16);
    else if (text.rfind("QC_LLAMA_MODELS=", 0) == 0) paths.models = text.substr(16);
    else output += text + "\n";
  }
  const int status = pclose(pipe);
  if (status != 0 || paths.server.empty() || paths.models.empty()) {
    paths.error = tiers_script + " paths failed:\n" + output;
    paths.server.clear();
  }
  return paths;
}

inline bool Healthy(int port) {
  CURL* curl = curl_easy_init();
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/health";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 1000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  long code = 0;
  bool ok = curl_easy_perform(curl) == CURLE_OK &&
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200;
  curl_easy_cleanup(curl);
  return ok;
}

// One llama-server serving one tier's model on 127.0.0.1, one thread (more thrash on 2 cores).
class LlamaServer {
 public:
  // `extra_arguments` go after the usual ones (e.g. --slot-save-path DIR for KV hand-off).
  LlamaServer(std::string binary, std::string model, std::string alias, std::vector<std::string> extra_arguments = {})
      : binary_(std::move(binary)), model_(std::move(model)), alias_(std::move(alias)),
        extra_arguments_(std::move(extra_arguments)) {}
  // The log stays behind only when the server failed to start, for the error message to point at.
  ~LlamaServer() {
    Kill();
    if (!log_.empty() && error_.empty()) std::remove(log_.c_str());
  }
  LlamaServer(const LlamaServer&) = delete;
  LlamaServer& operator=(const LlamaServer&) = delete;

  // Starts the server (on `port`, or a free one) and waits until /health answers. False with a reason
  // in error() if it did not come up within 60 s. A drawn port that something took before the server
  // bound it is drawn again (three draws).
  bool Start(int port = 0) {
    if (port != 0) return StartOn(port);
    for (int draw = 1;; ++draw) {
      const int drawn = FreePort();
      if (drawn == 0) {
        error_ = "no free loopback port for llama-server";
        return false;
      }
      if (StartOn(drawn)) return true;
      if (draw == 3 || !LogSays("couldn't bind")) return false;
      std::fprintf(stderr, "llama-server could not bind port %d (taken after the probe); drawing another\n", drawn);
      std::remove(log_.c_str());
      error_.clear();
    }
  }

  // SIGKILL: the tier goes away mid-run as a crashed server does, connections and all.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  const std::string& alias() const { return alias_; }
  const std::string& error() const { return error_; }

 private:
  bool LogSays(const std::string& text) const {
    std::ifstream log(log_);
    const std::string contents((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    return contents.find(text) != std::string::npos;
  }

  bool StartOn(int port) {
    port_ = port;
    log_ = "/tmp/quantclaw-llama-" + std::to_string(getpid()) + "-" + alias_ + "-" + std::to_string(port_) + ".log";
    const std::string port_text = std::to_string(port_);
    const pid_t parent = getpid();
    // The child would otherwise flush a copy of what this process still buffers into the log.
    std::fflush(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);  // the parent died before prctl took effect
      FILE* log = std::freopen(log_.c_str(), "w", stdout);
      if (log != nullptr) dup2(fileno(stdout), 2);
      std::vector<const char*> argv = {binary_.c_str(), "-m", model_.c_str(), "--alias", alias_.c_str(), "--host",
                                       "127.0.0.1", "--port", port_text.c_str(), "-t", "1", "-tb", "1", "-c", "16384",
                                       "--parallel", "2", "--jinja", "--no-webui"};
      for (const std::string& argument : extra_arguments_) argv.push_back(argument.c_str());
      argv.push_back(nullptr);
      execv(binary_.c_str(), const_cast<char* const*>(argv.data()));
      _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Healthy(port_)) return true;
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        error_ = "llama-server exited at start; see " + log_;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    error_ = "llama-server not healthy after 60 s; see " + log_;
    Kill();
    return false;
  }

  std::string binary_, model_, alias_, log_, error_;
  std::vector<std::string> extra_arguments_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace quantclaw_test

#endif  // QUANTCLAW_TESTS_TIERS_LLAMA_TIERS_H_
