// The native HTTP/1.1 data plane: N epoll threads that accept client connections on one listening
// socket and forward each request (not each connection) to the current targets over per-thread
// keep-alive upstream pools. Knows nothing about N-API; http-addon.cc wraps it for JavaScript.
//
// Threads: every worker registers the same (dup'ed) listening fd in its own epoll set with
// EPOLLEXCLUSIVE, so one worker wakes per new connection and the connection stays on that worker for
// life (its upstream connections too). SO_REUSEPORT would need the option set before bind(), which a
// node net.Server does not do, and it hashes connections to sockets at SYN time: connections queued
// on a worker's socket are lost when that socket closes, exactly when a daemon hands its listeners
// over. One shared socket has neither problem.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace gvhttp {

constexpr int kMaxThreads = 64;
// Request duration histogram upper bounds, seconds (Prometheus' default buckets); a last +Inf
// bucket follows.
constexpr int kBuckets = 11;
extern const double kBucketBounds[kBuckets];

struct Cidr {
  int family = AF_INET;  // AF_INET or AF_INET6
  uint8_t addr[16] = {};
  int bits = 0;
};
// "10.0.0.0/8", "127.0.0.1", "::1", "fd00::/8". Returns false when it is none of these.
bool ParseCidr(const std::string& s, Cidr* out);

struct Options {
  int threads = 1;
  uint32_t maxHeaderBytes = 16 * 1024;
  uint32_t headerTimeoutMs = 10'000;
  // A keep-alive client connection idle between requests is closed after this.
  uint32_t clientIdleMs = 65'000;
  uint32_t queueTimeoutMs = 5'000;
  // A retry whose only target failed it waits this long (at most queueTimeoutMs) for a replacement,
  // then is sent to that target once more; a failure then is a 502.
  uint32_t retryGraceMs = 1'000;
  // Requests held while there is no target, for the whole plane (split evenly between threads).
  uint32_t maxHeld = 1024;
  uint32_t upstreamTimeoutMs = 60'000;
  uint32_t upstreamIdleMs = 2'000;
  // Per target and per thread.
  uint32_t maxUpstreamConnsPerTarget = 256;
  uint32_t maxConnections = 16'384;
  // Each of a connection pair's four buffers (client in/out, upstream in, to-upstream).
  uint32_t bufferBytes = 64 * 1024;
  // Request body bytes kept for a retry.
  uint32_t replayBytes = 16 * 1024;
  // How long a closing client connection is read and discarded after the last response (so a RST
  // does not destroy the response in its receive path).
  uint32_t lingerMs = 2'000;
  // In connection-close mode (a successor daemon accepts now), an idle keep-alive client is closed
  // once it has been idle this long.
  uint32_t retireIdleMs = 1'000;
  std::vector<Cidr> trustedProxies;
  std::string proto = "http";
};

struct TargetSpec {
  std::string id;
  std::string host;  // an IP literal ("localhost" is taken as 127.0.0.1)
  int port = 0;
};

struct Event {
  enum Kind { Idle, Log, Closed } kind = Log;
  std::string target;
  std::string msg;
  std::string code;
};

enum ErrKind { kE400, kE408, kE431, kE502, kE503, kE504, kErrKinds };

struct TargetStatsOut {
  std::string id;
  bool current = false;
  bool draining = false;
  uint64_t connections = 0, idle = 0, inFlight = 0, total = 0, bytesIn = 0, bytesOut = 0;
};

struct StatsOut {
  uint64_t connections = 0, connectionsTotal = 0, requests = 0;
  uint64_t errors[kErrKinds] = {};
  uint64_t responses[5] = {};  // 1xx..5xx, final responses (101 counts as 1xx)
  uint64_t bytesIn = 0, bytesOut = 0;
  uint64_t buckets[kBuckets + 1] = {};  // per-bucket counts (not cumulative); last is +Inf
  double durationSum = 0;               // seconds
  uint64_t held = 0, heldTotal = 0;
  double heldSeconds = 0;
  uint64_t retries = 0, upstreamConnects = 0, acceptErrors = 0, shed = 0;
  std::vector<TargetStatsOut> targets;
};

// Counters a worker writes with plain relaxed stores (it is the only writer) and a snapshot reads.
struct alignas(64) Counter {
  std::atomic<uint64_t> v{0};
  void Add(uint64_t n) { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void Set(uint64_t n) { v.store(n, std::memory_order_relaxed); }
  uint64_t Get() const { return v.load(std::memory_order_relaxed); }
};

struct TargetCounters {
  std::atomic<int64_t> inFlight{0};
  std::atomic<uint64_t> conns{0}, idle{0}, total{0}, bytesIn{0}, bytesOut{0};
  char pad[16];
};

// One target as the plane knows it; shared by the workers (each writes only its own counters slot).
struct Target {
  std::string id;
  std::string host;
  int port = 0;
  sockaddr_storage addr{};
  socklen_t addrLen = 0;
  std::atomic<bool> current{false};
  std::atomic<bool> draining{false};
  TargetCounters per[kMaxThreads];
  int64_t InFlight() const;
};

class Worker;

class Plane {
 public:
  using EventFn = std::function<void(Event*)>;
  Plane(Options opts, EventFn onEvent);
  ~Plane();
  Plane(const Plane&) = delete;
  Plane& operator=(const Plane&) = delete;

  // dup()s listenFd (the caller keeps or closes its own), starts the threads. 0 or an errno.
  int Start(int listenFd);
  // Any thread. Returns "" or a message (a host that is not an IP literal, a bad port).
  std::string SetTargets(const std::vector<TargetSpec>& targets, bool hold);
  // Closes the target's idle upstream connections, stops reusing busy ones; an Idle event follows
  // once its in-flight count is (or reaches) 0. Returns false for an unknown target.
  bool Drain(const std::string& id);
  // -1 for an unknown target.
  int64_t InFlight(const std::string& id);
  // Forgets a target that is not current (its stats go). False when unknown or current.
  bool Forget(const std::string& id);
  void StopAccepting();
  void SetConnectionClose(bool on);
  // Graceful: stop accepting, Connection: close on every response, close idle clients, answer held
  // requests 503, wait for the rest up to timeoutMs, then reset them. A Closed event follows once
  // every thread has exited; Join() then returns at once.
  void Close(uint32_t timeoutMs);
  // Resets everything now and joins. Idempotent.
  void Destroy();
  void Join();
  void Snapshot(StatsOut* out);
  const Options& options() const { return opts_; }
  bool started() const { return started_; }

 private:
  friend class Worker;
  void Emit(Event* e);
  void WorkerExited();

  Options opts_;
  EventFn onEvent_;
  int listenFd_ = -1;
  bool started_ = false;
  bool joined_ = false;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::atomic<int> running_{0};
  std::atomic<int64_t> connections_{0};

  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Target>> targets_;
  std::vector<std::shared_ptr<Target>> current_;
};

}  // namespace gvhttp
