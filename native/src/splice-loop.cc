// See splice-loop.h. Direction d moves bytes from fd[d] to fd[1 - d] through pipe[d]; side 0 is the
// client, side 1 the upstream. Every fd here is owned by the loop: dup()ed in Add, closed in Finish.
#include "splice-loop.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace gvsplice {

namespace {
// epoll data for the wake eventfd; connection events carry (id << 1) | side, and ids start at 1.
constexpr uint64_t kWakeTag = 0;

void CloseFd(int& fd) {
  if (fd >= 0) {
    // close(2) may report EINTR, but the fd is released regardless on Linux: never retry it.
    ::close(fd);
    fd = -1;
  }
}

int SetNonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return errno;
  return 0;
}

// An abortive close: the peer gets a RST instead of a FIN, which is how a reset on one side is
// passed on to the other.
void SetResetOnClose(int fd) {
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}
}  // namespace

struct Loop::Conn {
  uint64_t id = 0;
  int fd[2] = {-1, -1};
  int pipe[2][2] = {{-1, -1}, {-1, -1}};
  size_t pipeCap[2] = {0, 0};
  bool grown[2] = {false, false};  // pipe[d] was resized to opts.pipeSize (or that was refused)
  size_t inPipe[2] = {0, 0};
  bool eof[2] = {false, false};    // EOF read from fd[d]
  bool shut[2] = {false, false};   // we did shutdown(SHUT_WR) on fd[side]
  bool moreIn[2] = {false, false}; // the last read from fd[d] filled what was asked
  bool outBlocked[2] = {false, false};  // writing pipe[d] to fd[1-d] hit EAGAIN (level mode)
  bool hungUp[2] = {false, false};  // fd[side] hung up cleanly and left the epoll set (level mode)
  uint32_t armed[2] = {0, 0};      // current epoll interest per side (level mode)
  // The side that reset or failed, once one has: the other side still gets what was read from it.
  int failed = -1;
  int failErr = 0;
  std::atomic<uint64_t> bytes[2];
  Conn() {
    bytes[0] = 0;
    bytes[1] = 0;
  }
};

Loop::Loop(Options opts, EndFn onEnd) : opts_(opts), onEnd_(std::move(onEnd)) {
  if (opts_.chunkSize == 0) opts_.chunkSize = 1 << 16;
}

Loop::~Loop() {
  Stop();
}

int Loop::Start() {
  if (started_) return 0;
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) return errno;
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakefd_ < 0) {
    int e = errno;
    CloseFd(epfd_);
    return e;
  }
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) < 0) {
    int e = errno;
    CloseFd(wakefd_);
    CloseFd(epfd_);
    return e;
  }
  thread_ = std::thread([this] { Run(); });
  started_ = true;
  return 0;
}

int64_t Loop::Add(int clientFd, int upstreamFd) {
  if (!started_ || stopped_) return -ESHUTDOWN;
  Conn* c = new Conn();
  int src[2] = {clientFd, upstreamFd};
  int err = 0;
  for (int s = 0; s < 2 && !err; s++) {
    c->fd[s] = fcntl(src[s], F_DUPFD_CLOEXEC, 3);
    if (c->fd[s] < 0) err = errno;
    else err = SetNonblock(c->fd[s]);
  }
  for (int d = 0; d < 2 && !err; d++) {
    if (pipe2(c->pipe[d], O_NONBLOCK | O_CLOEXEC) < 0) {
      err = errno;
      break;
    }
    // Pipes start at the kernel's default (64 KiB) and grow to opts.pipeSize only when a direction
    // fills one (Grow): pipe capacity counts against the per-user budget
    // (/proc/sys/fs/pipe-user-pages-soft) even when empty, and most connections never need more.
    int cap = fcntl(c->pipe[d][1], F_GETPIPE_SZ);
    if (cap > 0 && opts_.pipeSize > 0 && (opts_.pipeSize < static_cast<size_t>(cap) || !opts_.growPipes)) {
      // A smaller pipe than the default, or no growing: set the size now.
      fcntl(c->pipe[d][1], F_SETPIPE_SZ, static_cast<int>(opts_.pipeSize));
      cap = fcntl(c->pipe[d][1], F_GETPIPE_SZ);
    }
    c->pipeCap[d] = cap > 0 ? static_cast<size_t>(cap) : 65536;
    c->grown[d] = !opts_.growPipes || opts_.pipeSize <= c->pipeCap[d];
  }
  if (err) {
    FreeConn(c);
    return -err;
  }
  // The id is read before the connection is handed over: once pushed, the loop thread may finish
  // it and free `c` before this returns.
  const uint64_t id = nextId_.fetch_add(1);
  c->id = id;
  {
    std::lock_guard<std::mutex> lk(cmdMu_);
    cmds_.push_back({CmdKind::Add, c, id});
  }
  Wake();
  return static_cast<int64_t>(id);
}

void Loop::Abort(uint64_t id) {
  if (!started_ || stopped_) return;
  {
    std::lock_guard<std::mutex> lk(cmdMu_);
    cmds_.push_back({CmdKind::Abort, nullptr, id});
  }
  Wake();
}

void Loop::Stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  {
    std::lock_guard<std::mutex> lk(cmdMu_);
    cmds_.push_back({CmdKind::Stop, nullptr, 0});
  }
  Wake();
  if (thread_.joinable()) thread_.join();
  CloseFd(wakefd_);
  CloseFd(epfd_);
}

void Loop::Snapshot(std::vector<Counter>& out) {
  std::lock_guard<std::mutex> lk(connsMu_);
  out.reserve(out.size() + conns_.size());
  for (auto& kv : conns_) {
    out.push_back({kv.first, {kv.second->bytes[0].load(std::memory_order_relaxed),
                              kv.second->bytes[1].load(std::memory_order_relaxed)}});
  }
}

void Loop::Wake() {
  uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the loop is going to wake anyway.
  ssize_t r = write(wakefd_, &one, sizeof one);
  (void)r;
}

void Loop::FreeConn(Conn* c) {
  for (int s = 0; s < 2; s++) CloseFd(c->fd[s]);
  for (int d = 0; d < 2; d++) {
    CloseFd(c->pipe[d][0]);
    CloseFd(c->pipe[d][1]);
  }
  delete c;
}

void Loop::Register(Conn* c) {
  {
    std::lock_guard<std::mutex> lk(connsMu_);
    conns_[c->id] = c;
  }
  for (int s = 0; s < 2; s++) {
    struct epoll_event ev = {};
    ev.events = opts_.edgeTriggered ? (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) : EPOLLIN;
    ev.data.u64 = (c->id << 1) | static_cast<uint64_t>(s);
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, c->fd[s], &ev) < 0) {
      Finish(c, "error", errno, s);
      return;
    }
    c->armed[s] = ev.events;
  }
  // Bytes may already be waiting (a client that spoke first, a server banner); edge mode would
  // report them too, but pumping now costs two syscalls and needs no reasoning.
  if (Pump(c, 0) && Pump(c, 1) && !opts_.edgeTriggered) Rearm(c);
}

// Level mode only: ask for readability of fd[s] while its pipe has room and it has not ended, and
// for writability while the pipe towards it is blocked. Never both idle: errors and hangups are
// always reported by epoll.
void Loop::Rearm(Conn* c) {
  for (int s = 0; s < 2; s++) {
    if (s == c->failed || c->hungUp[s]) continue;  // removed from the epoll set
    uint32_t want = 0;
    // Read from s while its pipe has room, the side it feeds is alive, and that side is not
    // blocked with bytes still waiting in the pipe: then its EPOLLOUT comes first and the pump
    // reads again after flushing. (A pipe can also run out of slots before bytes when segments
    // are small; watching EPOLLIN then would wake the loop for nothing until the destination drains.)
    if (!c->eof[s] && c->inPipe[s] < c->pipeCap[s] && c->failed != 1 - s && !(c->inPipe[s] > 0 && c->outBlocked[s])) {
      want |= EPOLLIN;
    }
    if (c->inPipe[1 - s] > 0 && c->outBlocked[1 - s]) want |= EPOLLOUT;
    if (want == c->armed[s]) continue;
    struct epoll_event ev = {};
    ev.events = want;
    ev.data.u64 = (c->id << 1) | static_cast<uint64_t>(s);
    epoll_ctl(epfd_, EPOLL_CTL_MOD, c->fd[s], &ev);
    c->armed[s] = want;
  }
}

// A bulk direction: give its pipe the configured capacity, once. Refused above pipe-max-size or past
// the per-user pipe budget, in which case the pipe keeps what it has.
void Loop::Grow(Conn* c, int dir) {
  c->grown[dir] = true;
  if (fcntl(c->pipe[dir][1], F_SETPIPE_SZ, static_cast<int>(opts_.pipeSize)) < 0) return;
  int cap = fcntl(c->pipe[dir][1], F_GETPIPE_SZ);
  if (cap > 0) c->pipeCap[dir] = static_cast<size_t>(cap);
}

// Moves what can be moved in direction dir without blocking. Returns false when the connection was
// finished (and freed) on the way.
bool Loop::Pump(Conn* c, int dir) {
  // Nothing more can be delivered to a failed side.
  if (c->failed == 1 - dir) return true;
  const int src = c->fd[dir];
  const int dst = c->fd[1 - dir];
  const int pr = c->pipe[dir][0];
  const int pw = c->pipe[dir][1];
  for (;;) {
    bool progress = false;
    if (c->inPipe[dir] > 0) {
      unsigned flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
      if (opts_.spliceMore && c->moreIn[dir]) flags |= SPLICE_F_MORE;
      ssize_t n = splice(pr, nullptr, dst, nullptr, c->inPipe[dir], flags);
      if (n > 0) {
        c->inPipe[dir] -= static_cast<size_t>(n);
        c->bytes[dir].fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
        c->outBlocked[dir] = false;
        progress = true;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && errno == EAGAIN) {
        c->outBlocked[dir] = true;
      } else {
        // The destination is gone: this direction is over, the other may still deliver.
        if (!Fail(c, 1 - dir, n < 0 ? errno : EPIPE)) return false;
        return Pump(c, 1 - dir);
      }
    }
    if (!c->eof[dir] && c->inPipe[dir] < c->pipeCap[dir]) {
      size_t want = std::min(opts_.chunkSize, c->pipeCap[dir] - c->inPipe[dir]);
      ssize_t n = splice(src, nullptr, pw, nullptr, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        c->inPipe[dir] += static_cast<size_t>(n);
        c->moreIn[dir] = static_cast<size_t>(n) == want;
        if (!c->grown[dir] && c->inPipe[dir] >= c->pipeCap[dir]) Grow(c, dir);
        progress = true;
      } else if (n == 0) {
        // splice(2) reports a socket closed by a reset as EOF; the pending error tells them apart.
        int soerr = 0;
        socklen_t len = sizeof soerr;
        getsockopt(src, SOL_SOCKET, SO_ERROR, &soerr, &len);
        if (soerr != 0) {
          if (!Fail(c, dir, soerr)) return false;
          continue;
        }
        c->eof[dir] = true;
        c->moreIn[dir] = false;
        progress = true;
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN) {
        // The socket is empty, or the pipe has no free slot: either way a later edge brings us back.
        c->moreIn[dir] = false;
        if (!c->grown[dir] && c->inPipe[dir] > 0 && c->outBlocked[dir]) Grow(c, dir);
      } else {
        // Linux returns bytes queued before a reset first, so everything the source sent is in the
        // pipe by now; Fail lets it drain to the other side.
        if (!Fail(c, dir, errno)) return false;
        continue;
      }
    }
    if (c->failed == dir && c->inPipe[dir] == 0) {
      Finish(c, "error", c->failErr, dir);
      return false;
    }
    if (c->eof[dir] && c->inPipe[dir] == 0 && !c->shut[1 - dir]) {
      // Half-close: pass the EOF on only once everything read before it has been delivered.
      shutdown(dst, SHUT_WR);
      c->shut[1 - dir] = true;
      progress = true;
    }
    if (!progress) break;
  }
  if (c->eof[0] && c->eof[1] && c->shut[0] && c->shut[1]) {
    Finish(c, "end", 0, -1);
    return false;
  }
  return true;
}

void Loop::Handle(Conn* c, int side, uint32_t events) {
  const bool hup = (events & (EPOLLERR | EPOLLHUP)) != 0;
  // Readable fd[side] feeds direction side; writable fd[side] drains direction 1 - side.
  if ((events & (EPOLLIN | EPOLLRDHUP)) || hup) {
    if (!Pump(c, side)) return;
  }
  if ((events & EPOLLOUT) || hup) {
    if (!Pump(c, 1 - side)) return;
  }
  if (hup) {
    // A reset that no pending read or write has surfaced yet (the connection may be idle in both
    // directions). EPOLLHUP on a socket we have not shut down for writing means it is gone.
    int soerr = 0;
    socklen_t len = sizeof soerr;
    getsockopt(c->fd[side], SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (c->failed != side && (soerr != 0 || ((events & EPOLLHUP) && !c->shut[side]))) {
      if (!Fail(c, side, soerr != 0 ? soerr : ECONNRESET)) return;
      if (!Pump(c, side)) return;
    } else if (!opts_.edgeTriggered && (events & EPOLLHUP) && c->shut[side] && !c->hungUp[side]) {
      // Both ways shut, cleanly, with bytes left to read that the full pipe cannot take yet. Level
      // mode would report this hang-up on every wait; the rest of this side's bytes are read as the
      // other side drains the pipe (its EPOLLOUT drives Pump(side)), so stop watching it.
      epoll_ctl(epfd_, EPOLL_CTL_DEL, c->fd[side], nullptr);
      c->hungUp[side] = true;
      c->armed[side] = 0;
    }
  }
  if (!opts_.edgeTriggered) Rearm(c);
}

// Side `bad` reset or failed. Bytes already read from it still go to the other side (a server's last
// words before its RST); the connection ends once they are out. Returns false when it ended here.
bool Loop::Fail(Conn* c, int bad, int err) {
  if (c->failed >= 0 && c->failed != bad) {
    // Both sides failed: nothing can be delivered anywhere.
    Finish(c, "error", c->failErr, c->failed);
    return false;
  }
  if (c->failed == bad) return true;
  c->failed = bad;
  c->failErr = err;
  c->eof[bad] = true;
  // Its events are of no further use, and a dead socket may report EPOLLHUP in a loop (level mode).
  epoll_ctl(epfd_, EPOLL_CTL_DEL, c->fd[bad], nullptr);
  if (c->inPipe[bad] == 0) {
    Finish(c, "error", err, bad);
    return false;
  }
  return true;
}

void Loop::Finish(Conn* c, const char* reason, int err, int side) {
  {
    std::lock_guard<std::mutex> lk(connsMu_);
    conns_.erase(c->id);
  }
  if (std::strcmp(reason, "aborted") == 0) {
    // Reset both peers rather than let either believe the stream ended well.
    SetResetOnClose(c->fd[0]);
    SetResetOnClose(c->fd[1]);
  } else if (std::strcmp(reason, "error") == 0 && side >= 0) {
    // Pass the reset on, unless that would throw away bytes still queued unsent towards the live
    // side (a RST discards the send queue): then those go out first, followed by a FIN.
    SetResetOnClose(c->fd[side]);
    int unsent = 0;
    if (ioctl(c->fd[1 - side], SIOCOUTQNSD, &unsent) == 0 && unsent == 0) SetResetOnClose(c->fd[1 - side]);
  }
  EndReport* r = new EndReport();
  r->id = c->id;
  r->bytes[0] = c->bytes[0].load();
  r->bytes[1] = c->bytes[1].load();
  r->reason = reason;
  r->err = err;
  r->side = side;
  // Closing the fds also removes them from the epoll set.
  FreeConn(c);
  onEnd_(r);
}

void Loop::Drain() {
  uint64_t v;
  ssize_t r = read(wakefd_, &v, sizeof v);
  (void)r;
  std::vector<Cmd> cmds;
  {
    std::lock_guard<std::mutex> lk(cmdMu_);
    cmds.swap(cmds_);
  }
  for (const Cmd& cmd : cmds) {
    switch (cmd.kind) {
      case CmdKind::Add:
        if (quitting_) {
          Finish(cmd.conn, "aborted", 0, -1);
        } else {
          Register(cmd.conn);
        }
        break;
      case CmdKind::Abort: {
        auto it = conns_.find(cmd.id);
        if (it != conns_.end()) Finish(it->second, "aborted", 0, -1);
        break;
      }
      case CmdKind::Stop: {
        quitting_ = true;
        std::vector<Conn*> all;
        for (auto& kv : conns_) all.push_back(kv.second);
        for (Conn* c : all) Finish(c, "aborted", 0, -1);
        break;
      }
    }
  }
}

void Loop::Run() {
  constexpr int kMaxEvents = 256;
  struct epoll_event evs[kMaxEvents];
  while (!quitting_) {
    int n = epoll_wait(epfd_, evs, kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n; i++) {
      uint64_t tag = evs[i].data.u64;
      if (tag == kWakeTag) {
        Drain();
        continue;
      }
      // A connection finished earlier in this batch is no longer in the map: skip its stale event.
      auto it = conns_.find(tag >> 1);
      if (it == conns_.end()) continue;
      Handle(it->second, static_cast<int>(tag & 1), evs[i].events);
    }
  }
}

}  // namespace gvsplice
