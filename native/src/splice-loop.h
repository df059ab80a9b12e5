// The splice engine's event loop: one epoll thread that moves bytes between pairs of sockets with
// splice(2) through a pipe per direction. Knows nothing about N-API; addon.cc wraps it for JavaScript.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace gvsplice {

// Tunables, chosen per engine (the bench tries several).
struct Options {
  // Pipe capacity a direction grows to once it fills its default-sized pipe (F_SETPIPE_SZ); the
  // kernel may round it up or refuse it.
  size_t pipeSize = 1 << 20;
  // Start every pipe at the kernel default and grow on demand (true), or set pipeSize up front.
  bool growPipes = true;
  // Most bytes asked of one splice(2) call from a socket into a pipe.
  size_t chunkSize = 1 << 20;
  // EPOLLET with work-until-EAGAIN, or level-triggered with interest re-armed after each pump (the
  // default: it stops listening to a source while its pipe is full, where edge-triggered mode is
  // woken by every arriving segment for nothing; measured at about 35 % less CPU per GB).
  bool edgeTriggered = false;
  // Pass SPLICE_F_MORE when writing out while the reading side had more queued (it did not hit EAGAIN).
  bool spliceMore = true;
};

// How a connection ended, reported once per connection from the loop thread.
struct EndReport {
  uint64_t id = 0;
  // bytes[0]: client -> upstream delivered; bytes[1]: upstream -> client delivered.
  uint64_t bytes[2] = {0, 0};
  // "end" (both sides closed cleanly), "error" (a reset or failure on either side), "aborted".
  const char* reason = "end";
  // errno of the failing call for "error", else 0.
  int err = 0;
  // Which side failed: 0 client, 1 upstream, -1 none.
  int side = -1;
};

// Live counters of one open connection.
struct Counter {
  uint64_t id;
  uint64_t bytes[2];
};

class Loop {
 public:
  using EndFn = std::function<void(EndReport*)>;
  Loop(Options opts, EndFn onEnd);
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Creates the epoll instance and the thread. Returns 0 or an errno.
  int Start();
  // Any thread. dup()s both fds (the caller closes its own), makes the pipes, queues the pair.
  // Returns the connection id (> 0) or -errno; on failure nothing is kept open.
  int64_t Add(int clientFd, int upstreamFd);
  // Any thread. Closes the connection with a reset; its end is reported as "aborted".
  void Abort(uint64_t id);
  // Any thread but the loop's. Aborts every connection, stops and joins the thread. Idempotent.
  void Stop();
  // Any thread. Copies the live counters of every open connection into out.
  void Snapshot(std::vector<Counter>& out);

 private:
  struct Conn;
  enum class CmdKind { Add, Abort, Stop };
  struct Cmd {
    CmdKind kind;
    Conn* conn;
    uint64_t id;
  };

  void Run();
  void Drain();
  void Wake();
  void Register(Conn* c);
  void Rearm(Conn* c);
  void Handle(Conn* c, int side, uint32_t events);
  bool Pump(Conn* c, int dir);
  void Grow(Conn* c, int dir);
  bool Fail(Conn* c, int bad, int err);
  void Finish(Conn* c, const char* reason, int err, int side);
  static void FreeConn(Conn* c);

  Options opts_;
  EndFn onEnd_;
  int epfd_ = -1;
  int wakefd_ = -1;
  std::thread thread_;
  bool started_ = false;
  bool stopped_ = false;
  std::atomic<uint64_t> nextId_{1};

  std::mutex cmdMu_;
  std::vector<Cmd> cmds_;

  // Written only by the loop thread, under connsMu_; read by Snapshot under connsMu_.
  std::mutex connsMu_;
  std::unordered_map<uint64_t, Conn*> conns_;
  bool quitting_ = false;
};

}  // namespace gvsplice
