// A loopback port for a test server that binds it later, after the probe has closed it: a llama-server
// after exec, or a tier the soak kills and starts again on the same port.
//
// Drawn below the kernel's ephemeral range, because the kernel hands out ports from that range on its
// own: to outgoing connections, to other tests' bind(0) servers, and to a connect() aimed at a port where
// nothing listens, which on loopback can pick that very port as its source and connect to itself. A port
// from bind(0) could be taken in any of these ways while its server is not bound (and another server
// might then even answer its health check); one drawn below the range only by another explicit draw.
#ifndef QUANTCLAW_TESTS_BACKEND_LOOPBACK_PORT_H_
#define QUANTCLAW_TESTS_BACKEND_LOOPBACK_PORT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <random>

namespace quantclaw_test {

// The lowest port of /proc/sys/net/ipv4/ip_local_port_range.
inline int EphemeralPortFloor() {
  int floor = 32768;  // Linux's default
  if (FILE* range = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    if (std::fscanf(range, "%d", &floor) != 1) floor = 32768;
    std::fclose(range);
  }
  return floor;
}

inline bool LoopbackPortBindable(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  const bool bindable = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return bindable;
}

// A port in [20000, the ephemeral floor) that was free when probed; 0 if none was found.
inline int FreePort() {
  const int floor = EphemeralPortFloor();
  if (floor <= 20001) return 0;
  std::random_device seed;
  std::mt19937 draw(seed());
  std::uniform_int_distribution<int> ports(20000, floor - 1);
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int port = ports(draw);
    if (LoopbackPortBindable(port)) return port;
  }
  return 0;
}

}  // namespace quantclaw_test

#endif  // QUANTCLAW_TESTS_BACKEND_LOOPBACK_PORT_H_
