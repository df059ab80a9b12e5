// See http-plane.h. One Worker per thread owns its connections outright: nothing a worker touches on
// the hot path is shared except the per-target counter slot it alone writes. Commands from other
// threads (targets, drain, close) go through a mutex-guarded queue and an eventfd.
//
// Sockets are registered once, edge-triggered, for IN|OUT|RDHUP. A connection remembers whether its
// socket is readable/writable (canRead/canWrite) and clears that on a short read/write or EAGAIN; a
// new edge sets it again. That costs no epoll_ctl on the hot path, and backpressure is simply "do
// not read this side while the buffer it feeds is full" (the readable flag waits for room).
#include "http-plane.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>

#include "http-parse.h"
#include "http-rewrite.h"

namespace gvhttp {

const double kBucketBounds[kBuckets] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

int64_t Target::InFlight() const {
  int64_t s = 0;
  for (int i = 0; i < kMaxThreads; i++) s += per[i].inFlight.load(std::memory_order_seq_cst);
  return s;
}

bool ParseCidr(const std::string& s, Cidr* out) {
  std::string a = s;
  int bits = -1;
  size_t slash = s.find('/');
  if (slash != std::string::npos) {
    a = s.substr(0, slash);
    char* end = nullptr;
    long b = std::strtol(s.c_str() + slash + 1, &end, 10);
    if (end == s.c_str() + slash + 1 || *end != '\0' || b < 0) return false;
    bits = static_cast<int>(b);
  }
  Cidr c;
  if (inet_pton(AF_INET, a.c_str(), c.addr) == 1) {
    c.family = AF_INET;
    if (bits > 32) return false;
    c.bits = bits < 0 ? 32 : bits;
  } else if (inet_pton(AF_INET6, a.c_str(), c.addr) == 1) {
    c.family = AF_INET6;
    if (bits > 128) return false;
    c.bits = bits < 0 ? 128 : bits;
  } else {
    return false;
  }
  *out = c;
  return true;
}

namespace {

constexpr uint64_t kMs = 1'000'000;

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void CloseFd(int& fd) {
  if (fd >= 0) {
    // close(2) may report EINTR, but the fd is released regardless on Linux: never retry it.
    ::close(fd);
    fd = -1;
  }
}

// An abortive close: the peer gets a RST, so it cannot take a cut-off message for a whole one.
void SetResetOnClose(int fd) {
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

const char* ErrnoName(int err) {
  switch (err) {
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    case ENOMEM: return "ENOMEM";
    case 0: return "EOF";
    default: return "EIO";
  }
}

bool Idempotent(const char* m, uint32_t n) {
  switch (n) {
    case 3: return std::memcmp(m, "GET", 3) == 0 || std::memcmp(m, "PUT", 3) == 0;
    case 4: return std::memcmp(m, "HEAD", 4) == 0;
    case 5: return std::memcmp(m, "TRACE", 5) == 0;
    case 6: return std::memcmp(m, "DELETE", 6) == 0;
    case 7: return std::memcmp(m, "OPTIONS", 7) == 0;
    default: return false;
  }
}

// Buffers all have one size (bufferBytes + 4 KiB: the extra room is for heads the proxy writes after
// a body filled the soft limit). A worker keeps freed ones for reuse, so a keep-alive request costs
// no malloc, and an idle connection holds no buffer at all.
struct BufPool {
  uint32_t size = 0;
  std::vector<char*> free;
  char* Get() {
    if (!free.empty()) {
      char* p = free.back();
      free.pop_back();
      return p;
    }
    return static_cast<char*>(std::malloc(size));
  }
  void Put(char* p) {
    if (free.size() < 256) free.push_back(p);  // at most 256 x 68 KiB kept per worker
    else std::free(p);
  }
  ~BufPool() {
    for (char* p : free) std::free(p);
  }
};

struct Buf {
  char* p = nullptr;
  uint32_t cap = 0;
  uint32_t r = 0, w = 0;
  BufPool* pool = nullptr;
  ~Buf() { Release(); }
  uint32_t size() const { return w - r; }
  uint32_t space() const { return cap - w; }
  char* data() { return p + r; }
  bool Ensure(BufPool* bp) {
    if (p != nullptr) return true;
    p = bp->Get();
    if (p == nullptr) return false;
    pool = bp;
    cap = bp->size;
    r = w = 0;
    return true;
  }
  void Consume(uint32_t n) {
    r += n;
    if (r == w) r = w = 0;
  }
  // Moves the unread bytes to the front when that makes room worth having.
  void Compact() {
    if (r > 0 && (w == cap || r > cap / 2)) {
      std::memmove(p, p + r, w - r);
      w -= r;
      r = 0;
    }
  }
  void Append(const char* d, uint32_t n) {
    std::memcpy(p + w, d, n);
    w += n;
  }
  void Clear() { r = w = 0; }
  void Release() {
    if (p != nullptr) pool->Put(p);
    p = nullptr;
    cap = r = w = 0;
  }
};

struct TimerList;
struct TimerNode {
  TimerNode* prev = nullptr;
  TimerNode* next = nullptr;
  TimerList* list = nullptr;
  uint64_t deadline = 0;
};
// Every timer of one kind has the same duration, so a FIFO list is ordered by deadline: arming is an
// append, cancelling an unlink, expiry a walk from the head. No heap, no wheel.
struct TimerList {
  TimerNode head;
  uint64_t dur = 0;
  int kind = 0;
  TimerList() { head.prev = head.next = &head; }
  bool empty() const { return head.next == &head; }
};
void TimerCancel(TimerNode* n) {
  if (n->list == nullptr) return;
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->prev = n->next = nullptr;
  n->list = nullptr;
}
void TimerArm(TimerList* l, TimerNode* n, uint64_t now) {
  TimerCancel(n);
  n->deadline = now + l->dur;
  n->list = l;
  n->prev = l->head.prev;
  n->next = &l->head;
  l->head.prev->next = n;
  l->head.prev = n;
}

enum class Kind : uint8_t { Listen, Wake, Client, Up };

struct Sock {
  Kind kind;
  int fd = -1;
  bool canRead = false;
  bool canWrite = false;
  bool dead = false;
  explicit Sock(Kind k) : kind(k) {}
};

struct TLocal;
struct Client;

enum class UpState : uint8_t { Connecting, Busy, Idle, Tunnel };

struct Up : Sock {
  Up() : Sock(Kind::Up) {}
  TLocal* tl = nullptr;
  Client* c = nullptr;
  UpState st = UpState::Connecting;
  bool reused = false;
  bool eof = false;     // read EOF
  int err = 0;          // read/write/connect error
  bool shutWr = false;  // tunnel: we shut down writing
  Buf in;
  TimerNode timer;
};

enum class CState : uint8_t { Head, Held, Wait, Forward, Tunnel, Closing };
enum class RespBody : uint8_t { None, Length, Chunked, Close };

struct Client : Sock {
  Client() : Sock(Kind::Client) {}
  CState st = CState::Head;
  Buf in;    // from the client
  Buf out;   // to the client
  Buf toUp;  // to the upstream (request body, re-framed)
  TimerNode timer;
  Client* prev = nullptr;  // all clients of the worker
  Client* next = nullptr;
  char ip[INET6_ADDRSTRLEN] = {};
  uint8_t ipLen = 0;
  bool trusted = false;
  bool eof = false;     // peer EOF or hangup seen
  int err = 0;
  bool shutWr = false;  // tunnel or closing: we shut down writing
  uint32_t scanned = 0;  // head bytes already searched for CRLFCRLF

  // The request in progress.
  std::string head;  // the head for the upstream
  uint32_t headSent = 0;
  std::string replay;  // re-framed body bytes given to the upstream so far, while replayOk
  bool replayOk = true;
  bool idempotent = false;
  bool isHead = false;
  bool client10 = false;
  bool wantKA = true;
  bool upgradeReq = false;
  bool reqChunked = false;
  uint64_t reqRemaining = 0;  // Content-Length body bytes not yet read from the client
  bool reqBodyDone = true;    // all of the body read from the client (and re-framed)
  ChunkDecoder reqDec;
  bool retried = false;     // the one retry has been spent
  bool heldRetry = false;   // the retry's connect was refused too and it was held (once)
  bool forceFresh = false;  // next dispatch opens a new connection (retry after a reused one failed)
  Target* avoid = nullptr;  // the target whose attempt failed (a retry goes elsewhere)
  Target* firstFailed = nullptr;  // the target of the first failed attempt
  uint64_t startNs = 0;
  uint64_t heldAt = 0;
  TLocal* tl = nullptr;  // target of the request (while in flight)
  Up* up = nullptr;
  // The response in progress.
  bool respHeadDone = false;
  bool gotByte = false;  // a byte of the response arrived from the current upstream
  bool sentByte = false;  // a byte of the response went into `out`
  int status = 0;
  int interim = 0;
  RespBody rbody = RespBody::None;
  uint64_t respRemaining = 0;
  ChunkDecoder respDec;
  bool outChunked = false;
  bool upKeep = false;
  bool closeAfter = false;
};

// Sock has no virtual destructor (no vtable on the hot path): free by kind, so Client's and Up's
// buffers go back to the pool. ASan's new-delete-type-mismatch found the plain `delete s`.
void FreeSock(Sock* s) {
  if (s->kind == Kind::Client) delete static_cast<Client*>(s);
  else if (s->kind == Kind::Up) delete static_cast<Up*>(s);
}

struct TLocal {
  std::shared_ptr<Target> t;
  std::vector<Up*> idle;
  std::deque<Client*> waitq;
  int64_t inflight = 0;
  uint64_t conns = 0;
  bool draining = false;
  bool current = false;
};

enum class CmdKind { Targets, Drain, StopAccepting, ConnClose, Close, Destroy, Forget };
struct Cmd {
  CmdKind kind;
  std::vector<std::shared_ptr<Target>> targets;
  bool flag = false;
  uint64_t deadline = 0;
  std::shared_ptr<Target> target;
};

}  // namespace

class Worker {
 public:
  Worker(Plane* plane, int idx) : plane_(plane), idx_(idx), o_(plane->opts_) {}
  ~Worker();
  int Init(int listenFd);
  void Run();
  void Post(Cmd cmd);

  // Per-worker counters (only this worker writes them).
  Counter connectionsTotal, requests, bytesIn, bytesOut, held, heldTotal, heldNs, retries, upstreamConnects,
      acceptErrors, shed, durNs;
  Counter errors[kErrKinds];
  Counter responses[5];
  Counter buckets[kBuckets + 1];

 private:
  friend class gvhttp::Plane;
  void Wake();
  void Commands();
  void Accept();
  void PauseAccept(uint64_t ms);
  void ResumeAccept();
  void Timers();
  int NextTimeoutMs();
  void OnTimer(TimerList* l, TimerNode* n);

  void OnClient(Client* c, uint32_t ev);
  void OnUp(Up* u, uint32_t ev);
  void Drive(Client* c);
  void DriveTunnel(Client* c);
  bool ReadClient(Client* c);
  bool WriteClient(Client* c);
  bool ReadUp(Up* u);
  bool WriteUp(Client* c, Up* u);
  bool ParseHead(Client* c);
  void StartRequest(Client* c);
  void Route(Client* c);
  void Dispatch(Client* c, TLocal* tl);
  void Attach(Client* c, Up* u);
  Up* Connect(TLocal* tl, int* err);
  bool MoveReqBody(Client* c);
  bool ProcessResponse(Client* c);
  void FinishExchange(Client* c);
  void UpFailed(Client* c, int err, bool timeout);
  void Hold(Client* c);
  void ReleaseHeld();
  void Reply(Client* c, int status, bool close);
  void EndRequestState(Client* c);
  void ToHead(Client* c);
  void StartClosing(Client* c);
  void CloseClient(Client* c, bool reset);
  void AbortClient(Client* c);
  void ReleaseUp(Up* u, bool reuse);
  void CloseUp(Up* u, bool reset);
  void PoolRemove(Up* u);
  void GiveFreedSlot(TLocal* tl);
  void AddInflight(TLocal* tl, int64_t d);
  void CheckIdle(Target* t);
  void MaybeForget(TLocal* tl);
  void ForgetUnused();
  void Unhold(Client* c);
  void RunReady();
  TLocal* Local(const std::shared_ptr<Target>& t);
  TLocal* Pick(Target* avoid);
  void Log(const std::string& msg, Target* t, int err);
  void CountStatus(int status);
  void Finish();
  void Bury(Sock* s);

  Plane* plane_;
  int idx_;
  const Options& o_;
  BufPool bufs_;
  int epfd_ = -1;
  Sock wake_{Kind::Wake};
  Sock listen_{Kind::Listen};
  bool accepting_ = false;    // listen fd in our epoll set
  bool acceptStopped_ = false;  // stopAccepting/close: never again
  uint64_t acceptRetryAt_ = 0;  // paused (EMFILE, at the cap): try again then
  bool closing_ = false;
  uint64_t closeDeadline_ = 0;
  bool forceClose_ = false;
  bool quit_ = false;
  bool hold_ = true;
  uint64_t now_ = 0;
  size_t rr_ = 0;
  uint32_t heldCap_ = 0;
  uint32_t heldNow_ = 0;

  std::mutex cmdMu_;
  std::vector<Cmd> cmds_;

  std::unordered_map<Target*, std::unique_ptr<TLocal>> locals_;
  std::vector<TLocal*> current_;
  Client clients_;  // sentinel of the list of all clients
  uint64_t nclients_ = 0;
  std::deque<Client*> heldq_;
  std::vector<Sock*> graveyard_;
  std::unique_ptr<RequestHead> rq_{new RequestHead()};
  std::unique_ptr<ResponseHead> rs_{new ResponseHead()};
  std::string scratch_;
  // Declared before everything holding a Buf, so it outlives them.
  std::vector<Client*> ready_;        // clients to Drive after the current event (no recursion)
  std::vector<Target*> forgetq_;      // locals to drop at the end of the batch, if still unused

  TimerList tHeader_, tIdle_, tHeld_, tWait_, tLinger_, tUpFirst_, tUpIdle_, tGrace_, tRetire_;
  TimerList* lists_[9] = {&tHeader_, &tIdle_, &tHeld_, &tWait_, &tLinger_, &tUpFirst_, &tUpIdle_, &tGrace_, &tRetire_};

  // Log rate limit: at most kLogBurst lines per second per worker, the rest counted.
  uint64_t logWindow_ = 0;
  int logCount_ = 0;
  uint64_t logSuppressed_ = 0;
};

namespace {
enum TimerKind { kTHeader, kTIdle, kTHeld, kTWait, kTLinger, kTUpFirst, kTUpIdle, kTGrace, kTRetire };
constexpr int kLogBurst = 20;
// Longest the loop sleeps without a timer, so an accept pause or close deadline is seen in time.
constexpr int kMaxSleepMs = 1000;
constexpr int kMaxInterim = 16;
}  // namespace

Worker::~Worker() {
  CloseFd(epfd_);
  CloseFd(wake_.fd);
}

int Worker::Init(int listenFd) {
  clients_.prev = clients_.next = &clients_;
  const uint32_t durs[9] = {o_.headerTimeoutMs, o_.clientIdleMs, o_.queueTimeoutMs, o_.upstreamTimeoutMs,
                            o_.lingerMs, o_.upstreamTimeoutMs, o_.upstreamIdleMs,
                            std::min(o_.retryGraceMs, o_.queueTimeoutMs), o_.retireIdleMs};
  for (int i = 0; i < 9; i++) {
    lists_[i]->dur = static_cast<uint64_t>(durs[i]) * kMs;
    lists_[i]->kind = i;
  }
  heldCap_ = (o_.maxHeld + o_.threads - 1) / o_.threads;
  bufs_.size = o_.bufferBytes + 4096;
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) return errno;
  wake_.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_.fd < 0) return errno;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &wake_;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_.fd, &ev) < 0) return errno;
  listen_.fd = listenFd;  // owned by the plane
  ResumeAccept();
  return accepting_ ? 0 : EINVAL;
}

void Worker::Post(Cmd cmd) {
  {
    std::lock_guard<std::mutex> lk(cmdMu_);
    cmds_.push_back(std::move(cmd));
  }
  Wake();
}

void Worker::Wake() {
  uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the loop is going to wake anyway.
  ssize_t r = write(wake_.fd, &one, sizeof one);
  (void)r;
}

void Worker::ResumeAccept() {
  acceptRetryAt_ = 0;
  if (accepting_ || acceptStopped_) return;
  epoll_event ev{};
  // Level-triggered and exclusive: one worker wakes per connection; it accepts what is queued.
  ev.events = EPOLLIN | EPOLLEXCLUSIVE;
  ev.data.ptr = &listen_;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, listen_.fd, &ev) == 0) accepting_ = true;
}

void Worker::PauseAccept(uint64_t ms) {
  if (accepting_) {
    epoll_ctl(epfd_, EPOLL_CTL_DEL, listen_.fd, nullptr);
    accepting_ = false;
  }
  if (!acceptStopped_) acceptRetryAt_ = now_ + ms * kMs;
}

void Worker::Accept() {
  for (int i = 0; i < 64 && accepting_; i++) {
    if (o_.threads > 1) {
      // EPOLLEXCLUSIVE wakes the first registered worker that is idle, so a burst of connections
      // would all land on one thread. A worker holding more than its share (plus a little) leaves
      // the listening fd to the others for 10 ms, or until one of its clients closes.
      const int64_t total = plane_->connections_.load(std::memory_order_relaxed);
      const int64_t share = total / o_.threads;
      if (static_cast<int64_t>(nclients_) > share + 2 + share / 16) {
        PauseAccept(10);
        return;
      }
    }
    if (static_cast<uint64_t>(plane_->connections_.load(std::memory_order_relaxed)) >= o_.maxConnections) {
      // At the cap. Only the first pass of a wake knows a connection is queued (the listen fd was
      // readable); later passes are speculative, so stop there and let the next wake decide.
      if (i > 0) return;
      // Shed the oldest connection still sending its head (the header timer list is in arrival
      // order), else the oldest idle keep-alive one, else stop accepting until one closes.
      TimerList* victims[2] = {&tHeader_, &tIdle_};
      Client* v = nullptr;
      for (TimerList* l : victims) {
        if (!l->empty()) {
          v = reinterpret_cast<Client*>(reinterpret_cast<char*>(l->head.next) - offsetof(Client, timer));
          break;
        }
      }
      if (v == nullptr) {
        PauseAccept(100);
        return;
      }
      shed.Add(1);
      // A plain close, as the JS engine's: it has sent no request we owe an answer (a client with
      // unread bytes still gets a reset from the kernel).
      CloseClient(v, false);
    }
    sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    int fd = accept4(listen_.fd, reinterpret_cast<sockaddr*>(&sa), &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      if (errno == ECONNABORTED || errno == EPROTO || errno == EPERM) continue;
      // EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection stays queued; try again shortly.
      acceptErrors.Add(1);
      Log("accept failed", nullptr, errno);
      PauseAccept(100);
      return;
    }
    Client* c = new (std::nothrow) Client();
    if (c == nullptr) {
      ::close(fd);
      PauseAccept(100);
      return;
    }
    c->fd = fd;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // The client's address: IPv4-mapped IPv6 (a dual-stack listener) is written as plain IPv4.
    const uint8_t* raw = nullptr;
    int fam = sa.ss_family;
    if (fam == AF_INET) {
      raw = reinterpret_cast<const uint8_t*>(&reinterpret_cast<sockaddr_in*>(&sa)->sin_addr);
      inet_ntop(AF_INET, raw, c->ip, sizeof c->ip);
    } else if (fam == AF_INET6) {
      const in6_addr* a6 = &reinterpret_cast<sockaddr_in6*>(&sa)->sin6_addr;
      raw = reinterpret_cast<const uint8_t*>(a6);
      if (IN6_IS_ADDR_V4MAPPED(a6)) {
        fam = AF_INET;
        raw += 12;
        inet_ntop(AF_INET, raw, c->ip, sizeof c->ip);
      } else {
        inet_ntop(AF_INET6, a6, c->ip, sizeof c->ip);
      }
    }
    c->ipLen = static_cast<uint8_t>(std::strlen(c->ip));
    for (const Cidr& cidr : o_.trustedProxies) {
      if (raw == nullptr || cidr.family != fam) continue;
      int bits = cidr.bits;
      bool match = true;
      for (int b = 0; b < bits / 8 && match; b++) match = raw[b] == cidr.addr[b];
      if (match && bits % 8 != 0) {
        uint8_t mask = static_cast<uint8_t>(0xff << (8 - bits % 8));
        match = (raw[bits / 8] & mask) == (cidr.addr[bits / 8] & mask);
      }
      if (match) {
        c->trusted = true;
        break;
      }
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
      ::close(fd);
      delete c;
      continue;
    }
    c->canWrite = true;
    c->prev = clients_.prev;
    c->next = &clients_;
    clients_.prev->next = c;
    clients_.prev = c;
    nclients_++;
    plane_->connections_.fetch_add(1, std::memory_order_relaxed);
    connectionsTotal.Add(1);
    TimerArm(&tHeader_, &c->timer, now_);
    if (closing_) {
      // Accepted in the same batch as the close command: answer its request with Connection: close.
      c->closeAfter = true;
    }
  }
}

void Worker::Log(const std::string& msg, Target* t, int err) {
  uint64_t sec = now_ / 1'000'000'000ull;
  if (sec != logWindow_) {
    logWindow_ = sec;
    logCount_ = 0;
  }
  if (++logCount_ > kLogBurst) {
    logSuppressed_++;
    return;
  }
  Event* e = new (std::nothrow) Event();
  if (e == nullptr) return;
  e->kind = Event::Log;
  e->msg = msg;
  if (logSuppressed_ > 0) {
    e->msg += " (" + std::to_string(logSuppressed_) + " similar lines suppressed before this one)";
    logSuppressed_ = 0;
  }
  if (t != nullptr) e->target = t->id;
  e->code = ErrnoName(err);
  plane_->Emit(e);
}

void Worker::CountStatus(int status) {
  int cls = status / 100 - 1;
  if (cls >= 0 && cls < 5) responses[cls].Add(1);
}

TLocal* Worker::Local(const std::shared_ptr<Target>& t) {
  auto it = locals_.find(t.get());
  if (it != locals_.end()) return it->second.get();
  auto tl = std::make_unique<TLocal>();
  tl->t = t;
  TLocal* p = tl.get();
  locals_.emplace(t.get(), std::move(tl));
  return p;
}

// Dropped at the end of the batch, never here: callers may still hold tl (and its Target).
void Worker::MaybeForget(TLocal* tl) {
  if (tl->current || tl->inflight != 0 || tl->conns != 0 || !tl->waitq.empty()) return;
  forgetq_.push_back(tl->t.get());
}

void Worker::ForgetUnused() {
  for (Target* t : forgetq_) {
    auto it = locals_.find(t);
    if (it == locals_.end()) continue;
    TLocal* tl = it->second.get();
    if (tl->current || tl->inflight != 0 || tl->conns != 0 || !tl->waitq.empty()) continue;
    locals_.erase(it);
  }
  forgetq_.clear();
}

void Worker::Unhold(Client* c) {
  if (c->st != CState::Held) return;
  heldq_.erase(std::remove(heldq_.begin(), heldq_.end(), c), heldq_.end());
  heldNow_--;
  held.Set(heldNow_);
  heldNs.Add(now_ - c->heldAt);
  TimerCancel(&c->timer);
  c->st = CState::Forward;
}

TLocal* Worker::Pick(Target* avoid) {
  const size_t n = current_.size();
  if (n == 0) return nullptr;
  for (size_t i = 0; i < n; i++) {
    TLocal* tl = current_[(rr_ + i) % n];
    if (tl->t.get() != avoid) {
      rr_ = (rr_ + i + 1) % n;
      return tl;
    }
  }
  return nullptr;
}

void Worker::AddInflight(TLocal* tl, int64_t d) {
  tl->inflight += d;
  TargetCounters& pc = tl->t->per[idx_];
  if (d < 0 && tl->inflight == 0 && tl->draining) {
    // seq_cst store then seq_cst loads of the other slots: of two workers reaching 0 at once, at
    // least one sees the other's 0 (the event may come twice; the wrapper re-checks).
    pc.inFlight.store(0, std::memory_order_seq_cst);
    CheckIdle(tl->t.get());
  } else {
    pc.inFlight.store(tl->inflight, std::memory_order_relaxed);
  }
}

void Worker::CheckIdle(Target* t) {
  if (t->InFlight() != 0) return;
  Event* e = new (std::nothrow) Event();
  if (e == nullptr) return;
  e->kind = Event::Idle;
  e->target = t->id;
  plane_->Emit(e);
}

void Worker::Bury(Sock* s) {
  s->dead = true;
  graveyard_.push_back(s);
}

// ---- upstream connections ----

Up* Worker::Connect(TLocal* tl, int* err) {
  const Target* t = tl->t.get();
  int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errno;
    return nullptr;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  upstreamConnects.Add(1);
  int r = connect(fd, reinterpret_cast<const sockaddr*>(&t->addr), t->addrLen);
  if (r < 0 && errno != EINPROGRESS) {
    *err = errno;
    ::close(fd);
    return nullptr;
  }
  Up* u = new (std::nothrow) Up();
  if (u == nullptr) {
    *err = ENOMEM;
    ::close(fd);
    return nullptr;
  }
  u->fd = fd;
  u->tl = tl;
  u->st = r == 0 ? UpState::Busy : UpState::Connecting;
  u->canWrite = r == 0;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = u;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
    *err = errno;
    ::close(fd);
    delete u;
    return nullptr;
  }
  tl->conns++;
  tl->t->per[idx_].conns.store(tl->conns, std::memory_order_relaxed);
  return u;
}

void Worker::CloseUp(Up* u, bool reset) {
  if (u->dead) return;
  TimerCancel(&u->timer);
  if (u->st == UpState::Idle) PoolRemove(u);
  if (reset) SetResetOnClose(u->fd);
  CloseFd(u->fd);
  TLocal* tl = u->tl;
  if (u->c != nullptr && u->c->up == u) u->c->up = nullptr;
  u->c = nullptr;
  Bury(u);
  tl->conns--;
  tl->t->per[idx_].conns.store(tl->conns, std::memory_order_relaxed);
  GiveFreedSlot(tl);
  MaybeForget(tl);
}

void Worker::PoolRemove(Up* u) {
  auto& v = u->tl->idle;
  for (size_t i = 0; i < v.size(); i++) {
    if (v[i] == u) {
      v[i] = v.back();
      v.pop_back();
      break;
    }
  }
  u->tl->t->per[idx_].idle.store(v.size(), std::memory_order_relaxed);
}

// The exchange on u ended. Back to the pool (LIFO: warm connections first, the extra ones age out),
// or closed.
void Worker::ReleaseUp(Up* u, bool reuse) {
  TLocal* tl = u->tl;
  if (u->c != nullptr && u->c->up == u) u->c->up = nullptr;
  u->c = nullptr;
  TimerCancel(&u->timer);
  if (!reuse || tl->draining || closing_ || u->in.size() != 0 || u->eof || u->err != 0) {
    CloseUp(u, false);
    return;
  }
  if (!tl->waitq.empty()) {
    // A request is waiting for a connection slot: hand this one over directly.
    Client* c = tl->waitq.front();
    tl->waitq.pop_front();
    u->st = UpState::Busy;
    u->reused = true;
    TimerCancel(&c->timer);
    c->st = CState::Forward;
    Attach(c, u);
    ready_.push_back(c);
    return;
  }
  u->st = UpState::Idle;
  u->in.Release();
  tl->idle.push_back(u);
  tl->t->per[idx_].idle.store(tl->idle.size(), std::memory_order_relaxed);
  TimerArm(&tUpIdle_, &u->timer, now_);
}

void Worker::GiveFreedSlot(TLocal* tl) {
  while (!tl->waitq.empty() && tl->conns < o_.maxUpstreamConnsPerTarget && !closing_) {
    Client* c = tl->waitq.front();
    tl->waitq.pop_front();
    int err = 0;
    Up* u = Connect(tl, &err);
    TimerCancel(&c->timer);
    c->st = CState::Forward;
    if (u == nullptr) {
      c->tl = tl;
      UpFailed(c, err, false);
      ready_.push_back(c);
      continue;
    }
    Attach(c, u);
    ready_.push_back(c);
  }
}

void Worker::RunReady() {
  for (int round = 0; round < 64 && !ready_.empty(); round++) {
    std::vector<Client*> r;
    r.swap(ready_);
    for (Client* c : r) {
      if (!c->dead) Drive(c);
    }
  }
}

void Worker::Attach(Client* c, Up* u) {
  u->c = c;
  c->up = u;
  c->headSent = 0;
  c->gotByte = false;
  c->respHeadDone = false;
  c->interim = 0;
  u->eof = false;
  u->err = 0;
  // Silent-upstream timer: from the request going out until the first response byte.
  TimerArm(&tUpFirst_, &u->timer, now_);
}

// ---- requests ----

void Worker::Dispatch(Client* c, TLocal* tl) {
  c->tl = tl;
  AddInflight(tl, 1);
  TargetCounters& pc = tl->t->per[idx_];
  pc.total.store(pc.total.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  c->st = CState::Forward;
  const bool fresh = c->forceFresh;
  c->forceFresh = false;
  if (!tl->idle.empty() && !tl->draining && !fresh) {
    Up* u = tl->idle.back();
    tl->idle.pop_back();
    pc.idle.store(tl->idle.size(), std::memory_order_relaxed);
    u->st = UpState::Busy;
    u->reused = true;
    Attach(c, u);
    return;
  }
  if (tl->conns >= o_.maxUpstreamConnsPerTarget) {
    c->st = CState::Wait;
    tl->waitq.push_back(c);
    TimerArm(&tWait_, &c->timer, now_);
    return;
  }
  int err = 0;
  Up* u = Connect(tl, &err);
  if (u == nullptr) {
    UpFailed(c, err, false);
    return;
  }
  u->reused = false;
  Attach(c, u);
}

// Sends the request to a current target, holds it, or refuses it.
void Worker::Route(Client* c) {
  TLocal* tl = Pick(c->avoid);
  if (tl != nullptr) {
    Dispatch(c, tl);
    return;
  }
  Hold(c);
}

void Worker::Hold(Client* c) {
  // A retry whose only target just failed is held even with hold off: JS is about to swap it.
  const bool retryOfOnly = c->avoid != nullptr && !current_.empty();
  if ((!hold_ && !retryOfOnly) || closing_ || heldNow_ >= heldCap_) {
    errors[kE503].Add(1);
    Reply(c, 503, !c->reqBodyDone);
    return;
  }
  c->st = CState::Held;
  c->heldAt = now_;
  heldq_.push_back(c);
  heldNow_++;
  held.Set(heldNow_);
  heldTotal.Add(1);
  // A retry whose only target failed it waits retryGraceMs for JS to replace that target, then has
  // its last try there (the engine contract: a dead instance is replaced within milliseconds; one
  // that stays refuses the last try, and the client gets 502, not a 503 at queue_timeout).
  TimerArm(retryOfOnly && !c->heldRetry ? &tGrace_ : &tHeld_, &c->timer, now_);
}

void Worker::ReleaseHeld() {
  std::deque<Client*> q = heldq_;
  for (Client* c : q) {
    if (c->dead || c->st != CState::Held) continue;
    TLocal* tl = Pick(c->avoid);
    if (tl == nullptr) tl = Pick(nullptr);  // only the failed one is current: JS chose it
    if (tl == nullptr) break;
    Unhold(c);
    Dispatch(c, tl);
    ready_.push_back(c);
  }
}

void Worker::StartRequest(Client* c) {
  requests.Add(1);
  c->startNs = now_;
  c->retried = false;
  c->heldRetry = false;
  c->forceFresh = false;
  c->avoid = nullptr;
  c->firstFailed = nullptr;
  c->sentByte = false;
  c->respHeadDone = false;
  c->status = 0;
  if (closing_ || forceClose_) c->closeAfter = true;
  Route(c);
}

// Parses a request head in c->in. Returns true when something happened (a request started or an
// error was answered).
bool Worker::ParseHead(Client* c) {
  const uint32_t len = c->in.size();
  if (len == 0) return false;
  // First byte of the next request (also of a client idle in connection-close mode).
  if (c->timer.list == &tIdle_ || c->timer.list == &tRetire_) TimerArm(&tHeader_, &c->timer, now_);
  // Only parse once a CRLFCRLF may be there: a head trickled byte by byte costs a memmem per read.
  const char* buf = c->in.data();
  const uint32_t from = c->scanned > 3 ? c->scanned - 3 : 0;
  const bool maybe = len >= 4 && memmem(buf + from, len - from, "\r\n\r\n", 4) != nullptr;
  if (!maybe && len < o_.maxHeaderBytes) {
    c->scanned = len;
    return false;
  }
  Limits lim;
  lim.maxHeaderBytes = o_.maxHeaderBytes;
  Err err;
  RequestHead& r = *rq_;
  Parse p = ParseRequest(buf, len, lim, &r, &err);
  if (p == Parse::Incomplete) {
    c->scanned = len;
    return false;
  }
  c->scanned = 0;
  if (p == Parse::Error) {
    requests.Add(1);
    c->startNs = now_;
    const int status = err == Err::TooLarge ? 431 : 400;
    errors[status == 431 ? kE431 : kE400].Add(1);
    c->in.Clear();
    TimerCancel(&c->timer);
    Reply(c, status, true);
    return true;
  }
  c->idempotent = Idempotent(buf + r.method.off, r.method.len);
  c->isHead = r.method.len == 4 && std::memcmp(buf + r.method.off, "HEAD", 4) == 0;
  c->client10 = r.version == 10;
  c->wantKA = r.version == 11 ? !r.connClose : (r.connKeepAlive && !r.connClose);
  c->upgradeReq = r.version == 11 && r.hasUpgrade && r.connUpgrade;
  c->reqChunked = r.body == Body::Chunked;
  c->reqRemaining = r.body == Body::Length ? r.contentLength : 0;
  c->reqBodyDone = r.body == Body::None;
  c->reqDec = ChunkDecoder();
  c->closeAfter = !c->wantKA;
  ForwardCtx fc;
  fc.clientIp = c->ip;
  fc.clientIpLen = c->ipLen;
  fc.trusted = c->trusted;
  fc.proto = o_.proto.c_str();
  fc.upgrade = c->upgradeReq;
  c->head.clear();
  WriteRequestHead(buf, r, fc, &c->head);
  c->in.Consume(static_cast<uint32_t>(r.consumed));
  c->replay.clear();
  c->replayOk = true;
  TimerCancel(&c->timer);
  if (!c->toUp.Ensure(&bufs_) || !c->out.Ensure(&bufs_)) {
    CloseClient(c, true);
    return true;
  }
  c->toUp.Clear();
  StartRequest(c);
  return true;
}

// Moves request body bytes from c->in to c->toUp, re-framed. Returns true on progress.
bool Worker::MoveReqBody(Client* c) {
  if (c->reqBodyDone || c->in.size() == 0) return false;
  bool progress = false;
  const uint32_t replayMax = o_.replayBytes;
  auto give = [&](const char* d, uint32_t n) {
    c->toUp.Append(d, n);
    if (c->replayOk) {
      if (c->replay.size() + n <= replayMax) c->replay.append(d, n);
      else {
        c->replayOk = false;
        c->replay.clear();
        c->replay.shrink_to_fit();
      }
    }
    TargetCounters& pc = c->tl->t->per[idx_];
    pc.bytesOut.store(pc.bytesOut.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  };
  if (!c->reqChunked) {
    uint32_t n = std::min<uint64_t>(c->reqRemaining, std::min(c->in.size(), c->toUp.space()));
    if (n == 0) return false;
    give(c->in.data(), n);
    c->in.Consume(n);
    c->reqRemaining -= n;
    if (c->reqRemaining == 0) c->reqBodyDone = true;
    return true;
  }
  while (c->in.size() > 0 && !c->reqBodyDone) {
    // Room for a chunk header, its data and the CRLF (or the last chunk).
    if (c->toUp.space() < 32) break;
    const uint32_t room = c->toUp.space() - 24;
    size_t used = 0, doff = 0, dlen = 0;
    ChunkDecoder::Step s = c->reqDec.Feed(c->in.data(), std::min(c->in.size(), room), &used, &doff, &dlen);
    if (s == ChunkDecoder::Step::Error) {
      // Bad chunked framing: nothing more of this request may reach the upstream.
      errors[kE400].Add(1);
      c->in.Clear();
      if (c->up != nullptr) CloseUp(c->up, true);
      AddInflight(c->tl, -1);
      c->tl = nullptr;
      if (!c->sentByte) Reply(c, 400, true);
      else CloseClient(c, true);
      return true;
    }
    if (s == ChunkDecoder::Step::Data) {
      char hdr[24];
      size_t hl = ChunkHeader(dlen, hdr);
      scratch_.assign(hdr, hl);
      scratch_.append(c->in.data() + doff, dlen);
      scratch_.append("\r\n", 2);
      give(scratch_.data(), static_cast<uint32_t>(scratch_.size()));
    } else if (s == ChunkDecoder::Step::Done) {
      give("0\r\n\r\n", 5);
      c->reqBodyDone = true;
    }
    c->in.Consume(static_cast<uint32_t>(used));
    progress = true;
    if (s == ChunkDecoder::Step::NeedMore) break;
  }
  return progress;
}

void Worker::Reply(Client* c, int status, bool close) {
  if (close || closing_ || forceClose_) c->closeAfter = true;
  if (!c->out.Ensure(&bufs_)) {
    CloseClient(c, true);
    return;
  }
  scratch_.clear();
  WriteErrorResponse(status, c->closeAfter, &scratch_);
  if (scratch_.size() > c->out.cap - c->out.w) c->out.Compact();
  if (scratch_.size() > c->out.cap - c->out.w) {
    CloseClient(c, true);
    return;
  }
  c->out.Append(scratch_.data(), static_cast<uint32_t>(scratch_.size()));
  CountStatus(status);
  const uint64_t d = now_ - c->startNs;
  durNs.Add(d);
  int b = 0;
  while (b < kBuckets && static_cast<double>(d) > kBucketBounds[b] * 1e9) b++;
  buckets[b].Add(1);
  EndRequestState(c);
}

// The request is over (answered by the upstream or by the proxy): next request or closing.
void Worker::EndRequestState(Client* c) {
  c->tl = nullptr;
  c->up = nullptr;
  c->head.clear();
  if (c->replay.capacity() > 4096) c->replay.shrink_to_fit();
  c->replay.clear();
  if (c->closeAfter || !c->reqBodyDone) {
    StartClosing(c);
    return;
  }
  ToHead(c);
}

void Worker::ToHead(Client* c) {
  c->st = CState::Head;
  c->scanned = 0;
  // An idle keep-alive connection holds no buffer.
  c->toUp.Release();
  if (c->in.size() == 0) c->in.Release();
  if (c->out.size() == 0) c->out.Release();
  TimerArm(c->in.size() > 0 ? &tHeader_ : &tIdle_, &c->timer, now_);
}

void Worker::StartClosing(Client* c) {
  c->st = CState::Closing;
  c->in.Clear();
  TimerCancel(&c->timer);
}

void Worker::FinishExchange(Client* c) {
  Up* u = c->up;
  TLocal* tl = c->tl;
  const bool reuse = c->upKeep && c->reqBodyDone && c->toUp.size() == 0 && c->headSent == c->head.size();
  if (u != nullptr) ReleaseUp(u, reuse);
  if (tl != nullptr) {
    AddInflight(tl, -1);
    MaybeForget(tl);
  }
  CountStatus(c->status);
  const uint64_t d = now_ - c->startNs;
  durNs.Add(d);
  int b = 0;
  while (b < kBuckets && static_cast<double>(d) > kBucketBounds[b] * 1e9) b++;
  buckets[b].Add(1);
  EndRequestState(c);
}

// The upstream attempt failed: before any response byte, retry or answer; after, cut the client.
//
// Retry rules (README, "Retries"): eligible when no response byte came, the whole body sent so far is
// in the replay buffer, and the method is idempotent, or the request went out on a reused keep-alive
// connection with its body complete (the keep-alive race). The one retry goes to another current
// target; with none, a reused connection that failed is retried on a fresh connection to the same
// target, and a refused connect (the target is down) is held until setTargets gives a target. When
// the retry went to that same target and failed before any response byte too (a target being
// SIGKILLed accepts, then resets), an idempotent request is held once more for the next setTargets:
// at most two resends, the second only to a target JS has just chosen.
void Worker::UpFailed(Client* c, int err, bool timeout) {
  Up* u = c->up;
  TLocal* tl = c->tl;
  const bool reused = u != nullptr && u->reused;
  const bool connectFail = u == nullptr || u->st == UpState::Connecting;
  std::shared_ptr<Target> keep = tl != nullptr ? tl->t : nullptr;
  Target* failedTarget = keep.get();
  if (u != nullptr) CloseUp(u, true);
  c->up = nullptr;
  if (tl != nullptr) {
    AddInflight(tl, -1);
    c->tl = nullptr;
    MaybeForget(tl);
  }
  if (c->sentByte) {
    // Part of the response is already on its way: nothing honest can be sent any more.
    CloseClient(c, true);
    return;
  }
  if (timeout) {
    errors[kE504].Add(1);
    Log("upstream timed out", failedTarget, ETIMEDOUT);
    Reply(c, 504, !c->reqBodyDone);
    return;
  }
  // A reused connection the app closed while idle (EOF, no error) is the keep-alive race, not news.
  if (!reused || err != 0) Log("upstream request failed before any response byte", failedTarget, err);
  const bool eligible = !c->gotByte && c->replayOk && (c->idempotent || (reused && c->reqBodyDone));
  const bool again = !c->retried && eligible;
  const bool connectRetry = c->retried && !c->heldRetry && c->idempotent && eligible && failedTarget == c->firstFailed;
  if (again || connectRetry) {
    if (again) {
      c->retried = true;
      c->firstFailed = failedTarget;
      retries.Add(1);
    } else {
      c->heldRetry = true;
    }
    c->avoid = failedTarget;
    c->toUp.Clear();
    c->toUp.Append(c->replay.data(), static_cast<uint32_t>(c->replay.size()));
    c->headSent = 0;
    TLocal* next = connectRetry ? nullptr : Pick(failedTarget);
    if (next == nullptr && again && reused && !connectFail) {
      next = Pick(nullptr);
      c->forceFresh = true;
    }
    if (next != nullptr) Dispatch(c, next);
    else Hold(c);
    return;
  }
  errors[kE502].Add(1);
  Reply(c, 502, !c->reqBodyDone);
}

// Parses response heads and moves response body bytes into c->out. True on progress.
bool Worker::ProcessResponse(Client* c) {
  Up* u = c->up;
  if (u == nullptr) return false;
  bool progress = false;
  const uint32_t soft = o_.bufferBytes;  // body bytes stop there; the rest of out is for heads
  while (!c->respHeadDone) {
    if (u->in.size() == 0) {
      if (u->eof || u->err != 0) {
        if (c->gotByte) {
          errors[kE502].Add(1);
          Log("upstream closed mid-head", c->tl->t.get(), u->err);
                  }
        UpFailed(c, u->err != 0 ? u->err : (c->gotByte ? EPIPE : 0), false);
        return true;
      }
      return progress;
    }
    Err err;
    ResponseHead& r = *rs_;
    Parse p = ParseResponse(u->in.data(), u->in.size(), u->in.cap, &r, &err);
    if (p == Parse::Incomplete) {
      if (u->eof || u->err != 0) {
          UpFailed(c, u->err != 0 ? u->err : EPIPE, false);
        return true;
      }
      u->in.Compact();
      return progress;
    }
    if (p == Parse::Error) {
      Log(std::string("bad response from upstream: ") + ErrName(err), c->tl->t.get(), EIO);
      UpFailed(c, EIO, false);
      return true;
    }
    const char* b = u->in.data();
    if (r.status < 200 && r.status != 101) {
      // Interim (100 Continue, 103 Early Hints): relayed to an HTTP/1.1 client, then the next head.
      if (++c->interim > kMaxInterim) {
          UpFailed(c, EIO, false);
        return true;
      }
      if (!c->client10) {
        scratch_.clear();
        WriteResponseHead(b, r, OutFraming::None, 0, OutConn::Default, &scratch_);
        if (scratch_.size() > c->out.cap - c->out.w) {
          c->out.Compact();
          if (scratch_.size() > c->out.cap - c->out.w) return progress;  // wait for the client to read
        }
        c->out.Append(scratch_.data(), static_cast<uint32_t>(scratch_.size()));
      }
      u->in.Consume(static_cast<uint32_t>(r.consumed));
      progress = true;
      continue;
    }
    if (r.status == 101 && !c->upgradeReq) {
      Log("upstream answered 101 to a request that did not ask to upgrade", c->tl->t.get(), EIO);
      UpFailed(c, EIO, false);
      return true;
    }
    OutFraming f;
    OutConn conn = OutConn::Default;
    uint64_t length = 0;
    if (r.status == 101) {
      f = OutFraming::None;
      c->rbody = RespBody::None;
      conn = OutConn::Upgrade;
    } else if (c->isHead || r.status == 304) {
      f = OutFraming::AsIs;
      c->rbody = RespBody::None;
    } else if (r.status == 204) {
      f = OutFraming::None;
      c->rbody = RespBody::None;
    } else if (r.body == Body::Length) {
      f = OutFraming::Length;
      length = r.contentLength;
      c->rbody = length > 0 ? RespBody::Length : RespBody::None;
      c->respRemaining = length;
    } else {
      c->rbody = r.body == Body::Chunked ? RespBody::Chunked : RespBody::Close;
      if (c->rbody == RespBody::Chunked) c->respDec = ChunkDecoder();
      if (c->client10) {
        f = OutFraming::Close;
        c->closeAfter = true;
      } else {
        f = OutFraming::Chunked;
      }
    }
    c->outChunked = f == OutFraming::Chunked;
    c->upKeep = r.version == 11 && !r.connClose && !r.hadBothLengths && c->rbody != RespBody::Close && r.status != 101;
    if (closing_ || forceClose_ || !c->reqBodyDone) c->closeAfter = true;
    if (conn != OutConn::Upgrade) {
      if (c->closeAfter) conn = OutConn::Close;
      else if (c->client10) conn = OutConn::KeepAlive;
    }
    scratch_.clear();
    WriteResponseHead(b, r, f, length, conn, &scratch_);
    if (scratch_.size() > c->out.cap - c->out.w) {
      c->out.Compact();
      if (scratch_.size() > c->out.cap - c->out.w) {
        // Not now: the client has not read the previous response yet. Parse again later.
        return progress;
      }
    }
    c->out.Append(scratch_.data(), static_cast<uint32_t>(scratch_.size()));
    c->sentByte = true;
    c->respHeadDone = true;
    c->status = r.status;
    u->in.Consume(static_cast<uint32_t>(r.consumed));
    progress = true;
    if (r.status == 101) {
      // Both sockets become a byte tunnel; still in flight on the target until both close.
      c->st = CState::Tunnel;
      u->st = UpState::Tunnel;
      CountStatus(101);
      c->reqBodyDone = true;
      return true;
    }
    if (c->rbody == RespBody::None) {
      FinishExchange(c);
      return true;
    }
  }
  // Body.
  TargetCounters& pc = c->tl->t->per[idx_];
  for (;;) {
    if (c->out.size() >= soft) break;
    if (c->out.space() < 64) c->out.Compact();
    if (c->rbody == RespBody::Length) {
      uint32_t n = std::min<uint64_t>(c->respRemaining, std::min(u->in.size(), std::min<uint32_t>(c->out.space(), soft)));
      if (n > 0) {
        c->out.Append(u->in.data(), n);
        u->in.Consume(n);
        c->respRemaining -= n;
        progress = true;
      }
      if (c->respRemaining == 0) {
        FinishExchange(c);
        return true;
      }
      if (u->in.size() == 0 && (u->eof || u->err != 0)) {
        Log("upstream closed mid-body", c->tl->t.get(), u->err);
        UpFailed(c, u->err, false);
        return true;
      }
      break;
    }
    if (c->rbody == RespBody::Chunked) {
      if (u->in.size() == 0) {
        if (u->eof || u->err != 0) {
          Log("upstream closed mid-body", c->tl->t.get(), u->err);
          UpFailed(c, u->err, false);
          return true;
        }
        break;
      }
      if (c->out.space() < 64) break;
      const uint32_t room = c->out.space() - 32;
      size_t used = 0, doff = 0, dlen = 0;
      ChunkDecoder::Step s = c->respDec.Feed(u->in.data(), std::min(u->in.size(), room), &used, &doff, &dlen);
      if (s == ChunkDecoder::Step::Error) {
        Log("bad chunked response from upstream", c->tl->t.get(), EIO);
        UpFailed(c, EIO, false);
        return true;
      }
      if (s == ChunkDecoder::Step::Data) {
        if (c->outChunked) {
          char hdr[24];
          size_t hl = ChunkHeader(dlen, hdr);
          c->out.Append(hdr, static_cast<uint32_t>(hl));
          c->out.Append(u->in.data() + doff, static_cast<uint32_t>(dlen));
          c->out.Append("\r\n", 2);
        } else {
          c->out.Append(u->in.data() + doff, static_cast<uint32_t>(dlen));
        }
      }
      u->in.Consume(static_cast<uint32_t>(used));
      progress = true;
      if (s == ChunkDecoder::Step::Done) {
        if (c->outChunked) c->out.Append("0\r\n\r\n", 5);
        FinishExchange(c);
        return true;
      }
      continue;
    }
    if (c->rbody == RespBody::Close) {
      if (u->in.size() > 0) {
        if (c->out.space() < 64) break;
        uint32_t n = std::min(u->in.size(), c->out.space() - 32);
        if (c->outChunked) {
          char hdr[24];
          size_t hl = ChunkHeader(n, hdr);
          c->out.Append(hdr, static_cast<uint32_t>(hl));
          c->out.Append(u->in.data(), n);
          c->out.Append("\r\n", 2);
        } else {
          c->out.Append(u->in.data(), n);
        }
        u->in.Consume(n);
        progress = true;
        continue;
      }
      if (u->eof || u->err != 0) {
        if (u->err != 0 && u->err != ECONNRESET) {
          UpFailed(c, u->err, false);
          return true;
        }
        if (c->outChunked) c->out.Append("0\r\n\r\n", 5);
        c->upKeep = false;
        FinishExchange(c);
        return true;
      }
      break;
    }
    break;
  }
  (void)pc;
  return progress;
}

// ---- socket I/O ----

bool Worker::ReadClient(Client* c) {
  if (!c->canRead || c->eof) return false;
  if (c->in.p == nullptr && !c->in.Ensure(&bufs_)) return false;
  c->in.Compact();
  uint32_t space = c->in.space();
  if (space == 0) return false;
  ssize_t n = ::read(c->fd, c->in.p + c->in.w, space);
  if (n > 0) {
    c->in.w += static_cast<uint32_t>(n);
    bytesIn.Add(static_cast<uint64_t>(n));
    if (static_cast<uint32_t>(n) < space) c->canRead = false;
    return true;
  }
  if (n == 0) {
    c->eof = true;
    c->canRead = false;
    return true;
  }
  if (errno == EAGAIN || errno == EINTR) {
    c->canRead = errno == EINTR;
    return false;
  }
  c->err = errno;
  c->eof = true;
  c->canRead = false;
  return true;
}

bool Worker::WriteClient(Client* c) {
  if (!c->canWrite || c->out.size() == 0) return false;
  ssize_t n = ::write(c->fd, c->out.data(), c->out.size());
  if (n > 0) {
    bytesOut.Add(static_cast<uint64_t>(n));
    if (static_cast<uint32_t>(n) < c->out.size()) c->canWrite = false;
    c->out.Consume(static_cast<uint32_t>(n));
    if (c->out.size() == 0 && c->st == CState::Head && c->in.size() == 0) c->out.Release();
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
    c->canWrite = errno == EINTR;
    return false;
  }
  c->err = n < 0 ? errno : EPIPE;
  c->eof = true;
  return true;
}

bool Worker::ReadUp(Up* u) {
  if (!u->canRead || u->eof || u->err != 0) return false;
  if (u->in.p == nullptr && !u->in.Ensure(&bufs_)) return false;
  u->in.Compact();
  uint32_t space = u->in.space();
  if (space == 0) return false;
  ssize_t n = ::read(u->fd, u->in.p + u->in.w, space);
  if (n > 0) {
    u->in.w += static_cast<uint32_t>(n);
    if (u->c != nullptr) {
      if (!u->c->gotByte) {
        u->c->gotByte = true;
        TimerCancel(&u->timer);
      }
      TargetCounters& pc = u->tl->t->per[idx_];
      pc.bytesIn.store(pc.bytesIn.load(std::memory_order_relaxed) + static_cast<uint64_t>(n), std::memory_order_relaxed);
    }
    if (static_cast<uint32_t>(n) < space) u->canRead = false;
    return true;
  }
  if (n == 0) {
    u->eof = true;
    u->canRead = false;
    return true;
  }
  if (errno == EAGAIN || errno == EINTR) {
    u->canRead = errno == EINTR;
    return false;
  }
  u->err = errno;
  u->canRead = false;
  return true;
}

bool Worker::WriteUp(Client* c, Up* u) {
  if (!u->canWrite || u->st == UpState::Connecting) return false;
  const uint32_t headLeft = static_cast<uint32_t>(c->head.size()) - c->headSent;
  if (headLeft == 0 && c->toUp.size() == 0) return false;
  iovec iov[2];
  int n = 0;
  if (headLeft > 0) iov[n++] = {const_cast<char*>(c->head.data()) + c->headSent, headLeft};
  if (c->toUp.size() > 0) iov[n++] = {c->toUp.data(), c->toUp.size()};
  const size_t want = headLeft + c->toUp.size();
  ssize_t w = ::writev(u->fd, iov, n);
  if (w > 0) {
    size_t left = static_cast<size_t>(w);
    const uint32_t h = static_cast<uint32_t>(std::min<size_t>(left, headLeft));
    c->headSent += h;
    left -= h;
    if (left > 0) c->toUp.Consume(static_cast<uint32_t>(left));
    if (static_cast<size_t>(w) < want) u->canWrite = false;
    // Request progress restarts the silent-upstream timer (a long upload is not a silent upstream).
    if (!c->gotByte && u->timer.list == &tUpFirst_) TimerArm(&tUpFirst_, &u->timer, now_);
    return true;
  }
  if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
    u->canWrite = errno == EINTR;
    return false;
  }
  u->err = w < 0 ? errno : EPIPE;
  return true;
}

// ---- the per-connection state machine ----

void Worker::OnClient(Client* c, uint32_t ev) {
  if (ev & EPOLLIN) c->canRead = true;
  if (ev & EPOLLOUT) c->canWrite = true;
  if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    c->canRead = true;  // the read surfaces EOF or the error
    // Outside a tunnel a client's FIN means it has gone (as node's http server and nginx treat it):
    // a request it has in flight is aborted even when nothing is being read from it now.
    if (c->st != CState::Tunnel) c->eof = true;
    if (ev & EPOLLERR) {
      int soerr = 0;
      socklen_t l = sizeof soerr;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &l);
      c->err = soerr != 0 ? soerr : ECONNRESET;
      c->eof = true;
    }
  }
  if (c->st == CState::Tunnel) DriveTunnel(c);
  else Drive(c);
}

void Worker::OnUp(Up* u, uint32_t ev) {
  if (ev & EPOLLIN) u->canRead = true;
  if (ev & EPOLLOUT) u->canWrite = true;
  if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) u->canRead = true;
  if (u->st == UpState::Connecting) {
    if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
      int soerr = 0;
      socklen_t l = sizeof soerr;
      getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &soerr, &l);
      if (soerr != 0 || (ev & (EPOLLERR | EPOLLHUP))) {
        u->err = soerr != 0 ? soerr : ECONNREFUSED;
        u->canWrite = false;
      } else {
        u->st = UpState::Busy;
      }
    } else {
      return;
    }
  }
  if (u->st == UpState::Idle) {
    // An idle pooled connection closed or spoke out of turn: of no further use. The event may also
    // be a stale one from its last exchange (read in the same batch), so look before closing.
    if ((ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0) return;
    char b;
    ssize_t n = recv(u->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      u->canRead = false;
      return;
    }
    CloseUp(u, false);
    return;
  }
  if (ev & EPOLLERR) {
    int soerr = 0;
    socklen_t l = sizeof soerr;
    getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &soerr, &l);
    if (soerr != 0) u->err = soerr;
  }
  Client* c = u->c;
  if (c == nullptr) {
    CloseUp(u, false);
    return;
  }
  if (c->st == CState::Tunnel) DriveTunnel(c);
  else Drive(c);
}

void Worker::AbortClient(Client* c) {
  // The client went away: whatever it had in flight is aborted (that upstream connection is reset
  // and not reused). A clean EOF on an idle connection is a plain close.
  const bool clean = c->err == 0 && c->st == CState::Head && c->in.size() == 0 && c->out.size() == 0;
  CloseClient(c, !clean);
}

void Worker::Drive(Client* c) {
  for (int iter = 0; iter < 256; iter++) {
    if (c->dead) return;
    bool progress = false;
    if (c->st == CState::Tunnel) {
      DriveTunnel(c);
      return;
    }
    // Read the client while a head is being read, or a body is still due.
    const bool wantRead = c->st == CState::Head || c->st == CState::Closing ||
                          ((c->st == CState::Forward || c->st == CState::Wait || c->st == CState::Held) && !c->reqBodyDone);
    if (wantRead && ReadClient(c)) progress = true;
    if (c->eof) {
      // The client closed or reset (a half-close counts: see the README). While lingering that is
      // the end we wanted; otherwise whatever it had in flight is aborted.
      if (c->st == CState::Closing && c->err == 0 && c->shutWr) {
        CloseClient(c, false);
        return;
      }
      if (c->st != CState::Closing || c->err != 0 || c->out.size() == 0) {
        AbortClient(c);
        return;
      }
    }
    if (c->st == CState::Closing && c->shutWr) {
      c->in.Clear();  // lingering: discard
      if (!progress) return;
      continue;
    }
    if (c->st == CState::Head) {
      if (ParseHead(c)) progress = true;
      if (c->dead) return;
    }
    if (c->st == CState::Forward && c->up != nullptr) {
      if (MoveReqBody(c)) progress = true;
      if (c->dead) return;
    }
    Up* u = c->up;
    if (c->st == CState::Forward && u != nullptr) {
      if (u->err != 0 && !c->gotByte && u->in.size() == 0) {
        UpFailed(c, u->err, false);
        continue;
      }
      if (WriteUp(c, u)) progress = true;
      if (u->err != 0 && !c->gotByte) {
        // Could not send: the upstream is gone before answering (a reused connection the app
        // closed, a refused connect). Read what it may have said first.
        u->canRead = true;
      }
      const bool room = !c->respHeadDone || c->out.size() < o_.bufferBytes;
      if (room && ReadUp(u)) progress = true;
      if (ProcessResponse(c)) progress = true;
      if (c->dead) return;
    }
    if (WriteClient(c)) progress = true;
    if (iter == 255 && progress && !c->dead) {
      // Still busy after a fair share: edge-triggered epoll may not wake us for what is left, so
      // come back after the other connections' events.
      ready_.push_back(c);
      return;
    }
    if (c->st == CState::Closing && !c->shutWr && c->out.size() == 0 && !c->dead) {
      // Everything said: half-close, then read and discard until the client closes or lingerMs.
      shutdown(c->fd, SHUT_WR);
      c->shutWr = true;
      TimerArm(&tLinger_, &c->timer, now_);
      progress = true;
    }
    if (!progress) return;
  }
}

void Worker::DriveTunnel(Client* c) {
  for (int iter = 0; iter < 256; iter++) {
    if (c->dead) return;
    Up* u = c->up;
    if (u == nullptr) {
      AbortClient(c);
      return;
    }
    bool progress = false;
    // client -> upstream
    if (!c->eof && c->toUp.space() > 0 && c->in.space() > 0) {
      if (ReadClient(c)) progress = true;
    }
    if (c->in.size() > 0 && c->toUp.space() > 0) {
      uint32_t n = std::min(c->in.size(), c->toUp.space());
      c->toUp.Append(c->in.data(), n);
      c->in.Consume(n);
      TargetCounters& pc = u->tl->t->per[idx_];
      pc.bytesOut.store(pc.bytesOut.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
      progress = true;
    }
    if (WriteUp(c, u)) progress = true;
    // upstream -> client
    if (!u->eof && u->err == 0 && c->out.space() > 0) {
      c->out.Compact();
      if (ReadUp(u)) progress = true;
    }
    if (u->in.size() > 0) {
      c->out.Compact();
      uint32_t n = std::min(u->in.size(), c->out.space());
      if (n > 0) {
        c->out.Append(u->in.data(), n);
        u->in.Consume(n);
        TargetCounters& pc = u->tl->t->per[idx_];
        pc.bytesIn.store(pc.bytesIn.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
        progress = true;
      }
    }
    if (WriteClient(c)) progress = true;
    if (iter == 255 && progress && !c->dead) {
      ready_.push_back(c);
      return;
    }
    if (c->err != 0 || u->err != 0) {
      // A reset on either side resets the other.
      AbortClient(c);
      return;
    }
    // Half-close passed on once everything before it is delivered.
    if (c->eof && c->in.size() == 0 && c->toUp.size() == 0 && !u->shutWr) {
      shutdown(u->fd, SHUT_WR);
      u->shutWr = true;
      progress = true;
    }
    if (u->eof && u->in.size() == 0 && c->out.size() == 0 && !c->shutWr) {
      shutdown(c->fd, SHUT_WR);
      c->shutWr = true;
      progress = true;
    }
    if (c->eof && u->eof && u->shutWr && c->shutWr) {
      TLocal* tl = c->tl;
      c->tl = nullptr;
      CloseUp(u, false);
      if (tl != nullptr) {
        AddInflight(tl, -1);
        MaybeForget(tl);
      }
      CloseClient(c, false);
      return;
    }
    if (!progress) return;
  }
}

void Worker::CloseClient(Client* c, bool reset) {
  if (c->dead) return;
  TimerCancel(&c->timer);
  Unhold(c);
  if (c->st == CState::Wait && c->tl != nullptr) {
    auto& q = c->tl->waitq;
    q.erase(std::remove(q.begin(), q.end(), c), q.end());
  }
  if (c->up != nullptr) CloseUp(c->up, true);
  if (c->tl != nullptr) {
    TLocal* tl = c->tl;
    c->tl = nullptr;
    AddInflight(tl, -1);
    MaybeForget(tl);
  }
  if (reset) SetResetOnClose(c->fd);
  CloseFd(c->fd);
  c->prev->next = c->next;
  c->next->prev = c->prev;
  c->prev = c->next = nullptr;
  nclients_--;
  plane_->connections_.fetch_sub(1, std::memory_order_relaxed);
  Bury(c);
  if (!accepting_ && !acceptStopped_) ResumeAccept();
}

// ---- timers ----

int Worker::NextTimeoutMs() {
  uint64_t next = UINT64_MAX;
  for (TimerList* l : lists_) {
    if (!l->empty()) next = std::min(next, l->head.next->deadline);
  }
  if (acceptRetryAt_ != 0) next = std::min(next, acceptRetryAt_);
  if (closing_) next = std::min(next, closeDeadline_);
  if (!ready_.empty()) return 0;
  if (next == UINT64_MAX) return kMaxSleepMs;
  uint64_t now = NowNs();
  if (next <= now) return 0;
  uint64_t ms = (next - now + kMs - 1) / kMs;
  return static_cast<int>(std::min<uint64_t>(ms, kMaxSleepMs));
}

void Worker::Timers() {
  for (TimerList* l : lists_) {
    while (!l->empty() && l->head.next->deadline <= now_) {
      TimerNode* n = l->head.next;
      TimerCancel(n);
      OnTimer(l, n);
    }
  }
  if (acceptRetryAt_ != 0 && acceptRetryAt_ <= now_) ResumeAccept();
}

void Worker::OnTimer(TimerList* l, TimerNode* n) {
  if (l->kind == kTUpFirst || l->kind == kTUpIdle) {
    Up* u = reinterpret_cast<Up*>(reinterpret_cast<char*>(n) - offsetof(Up, timer));
    if (u->dead) return;
    if (l->kind == kTUpIdle) {
      CloseUp(u, false);
      return;
    }
    Client* c = u->c;
    if (c == nullptr || c->gotByte) return;
    UpFailed(c, ETIMEDOUT, true);
    if (!c->dead) Drive(c);
    return;
  }
  Client* c = reinterpret_cast<Client*>(reinterpret_cast<char*>(n) - offsetof(Client, timer));
  if (c->dead) return;
  switch (l->kind) {
    case kTHeader:
      // Slowloris or a dead client: 408 and close.
      requests.Add(1);
      errors[kE408].Add(1);
      c->startNs = now_;
      c->in.Clear();
      Reply(c, 408, true);
      if (!c->dead) Drive(c);
      break;
    case kTIdle:
    case kTLinger:
    case kTRetire:
      CloseClient(c, false);
      break;
    case kTHeld:
      if (c->st == CState::Held) {
        Unhold(c);
        errors[kE503].Add(1);
        Reply(c, 503, !c->reqBodyDone);
        if (!c->dead) Drive(c);
      }
      break;
    case kTGrace:
      if (c->st == CState::Held) {
        Unhold(c);
        TLocal* tl = Pick(nullptr);
        c->heldRetry = true;  // this is the last try: a failure now is answered 502
        if (tl == nullptr) {
          Hold(c);  // no target at all now: held like a new request, up to queue_timeout
          break;
        }
        Dispatch(c, tl);
        if (!c->dead) Drive(c);
      }
      break;
    case kTWait:
      if (c->st == CState::Wait && c->tl != nullptr) {
        auto& q = c->tl->waitq;
        q.erase(std::remove(q.begin(), q.end(), c), q.end());
        TLocal* tl = c->tl;
        c->tl = nullptr;
        AddInflight(tl, -1);
        MaybeForget(tl);
        errors[kE504].Add(1);
        Log("no upstream connection became free in time", tl->t.get(), ETIMEDOUT);
        Reply(c, 504, !c->reqBodyDone);
        if (!c->dead) Drive(c);
      }
      break;
    default:
      break;
  }
}

// ---- commands and the loop ----

void Worker::Commands() {
  uint64_t v;
  ssize_t r = read(wake_.fd, &v, sizeof v);
  (void)r;
  std::vector<Cmd> cmds;
  {
    std::lock_guard<std::mutex> lk(cmdMu_);
    cmds.swap(cmds_);
  }
  for (Cmd& cmd : cmds) {
    switch (cmd.kind) {
      case CmdKind::Targets: {
        hold_ = cmd.flag;
        for (TLocal* tl : current_) tl->current = false;
        std::vector<TLocal*> next;
        for (auto& t : cmd.targets) {
          TLocal* tl = Local(t);
          tl->current = true;
          tl->draining = false;
          next.push_back(tl);
        }
        std::vector<TLocal*> old;
        old.swap(current_);
        current_ = std::move(next);
        rr_ = 0;
        for (TLocal* tl : old) {
          if (!tl->current) MaybeForget(tl);
        }
        if (!current_.empty()) {
          ReleaseHeld();
        } else if (!hold_) {
          std::deque<Client*> q = heldq_;
          for (Client* c : q) {
            if (c->dead || c->st != CState::Held) continue;
            Unhold(c);
            errors[kE503].Add(1);
            Reply(c, 503, !c->reqBodyDone);
            if (!c->dead) Drive(c);
          }
        }
        break;
      }
      case CmdKind::Drain: {
        auto it = locals_.find(cmd.target.get());
        if (it != locals_.end()) {
          TLocal* tl = it->second.get();
          tl->draining = true;
          std::vector<Up*> idle;
          idle.swap(tl->idle);
          tl->t->per[idx_].idle.store(0, std::memory_order_relaxed);
          for (Up* u : idle) {
            u->st = UpState::Busy;  // already out of the pool
            CloseUp(u, false);
          }
        }
        CheckIdle(cmd.target.get());
        break;
      }
      case CmdKind::Forget:
        break;
      case CmdKind::StopAccepting:
        acceptStopped_ = true;
        acceptRetryAt_ = 0;
        if (accepting_) {
          epoll_ctl(epfd_, EPOLL_CTL_DEL, listen_.fd, nullptr);
          accepting_ = false;
        }
        break;
      case CmdKind::ConnClose:
        forceClose_ = cmd.flag;
        if (forceClose_) {
          // Idle keep-alive clients would otherwise stay until clientIdleMs. Closing them at once
          // races a client sending its next request just then (it would see a reset): they get
          // retireIdleMs more, and a request that starts meanwhile is served with Connection: close.
          for (Client* c = clients_.next; c != &clients_; c = c->next) {
            if (c->st == CState::Head && c->in.size() == 0 && c->timer.list == &tIdle_) TimerArm(&tRetire_, &c->timer, now_);
          }
        }
        break;
      case CmdKind::Close: {
        acceptStopped_ = true;
        acceptRetryAt_ = 0;
        if (accepting_) {
          epoll_ctl(epfd_, EPOLL_CTL_DEL, listen_.fd, nullptr);
          accepting_ = false;
        }
        closing_ = true;
        closeDeadline_ = cmd.deadline;
        std::vector<Client*> idle;
        for (Client* c = clients_.next; c != &clients_; c = c->next) {
          if (c->st == CState::Head && c->in.size() == 0 && (c->timer.list == &tIdle_ || c->timer.list == &tRetire_)) idle.push_back(c);
        }
        for (Client* c : idle) CloseClient(c, false);
        std::deque<Client*> q = heldq_;
        for (Client* c : q) {
          if (c->dead || c->st != CState::Held) continue;
          Unhold(c);
          errors[kE503].Add(1);
          Reply(c, 503, true);
          if (!c->dead) Drive(c);
        }
        for (auto& kv : locals_) {
          std::vector<Up*> idleUps;
          idleUps.swap(kv.second->idle);
          for (Up* u : idleUps) {
            u->st = UpState::Busy;
            CloseUp(u, false);
          }
        }
        break;
      }
      case CmdKind::Destroy:
        quit_ = true;
        break;
    }
  }
}

void Worker::Run() {
  constexpr int kMaxEvents = 256;
  epoll_event evs[kMaxEvents];
  now_ = NowNs();
  while (!quit_) {
    int n = epoll_wait(epfd_, evs, kMaxEvents, NextTimeoutMs());
    now_ = NowNs();
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; i++) {
      Sock* s = static_cast<Sock*>(evs[i].data.ptr);
      if (s->dead) continue;
      switch (s->kind) {
        case Kind::Wake:
          Commands();
          break;
        case Kind::Listen:
          Accept();
          break;
        case Kind::Client:
          OnClient(static_cast<Client*>(s), evs[i].events);
          break;
        case Kind::Up:
          OnUp(static_cast<Up*>(s), evs[i].events);
          break;
      }
    }
    RunReady();
    Timers();
    RunReady();
    for (Sock* s : graveyard_) FreeSock(s);
    graveyard_.clear();
    ForgetUnused();
    if (closing_ && (nclients_ == 0 || now_ >= closeDeadline_)) break;
  }
  Finish();
}

// Resets whatever is left and frees everything; then tells the plane.
void Worker::Finish() {
  quit_ = true;
  acceptStopped_ = true;
  if (accepting_) {
    epoll_ctl(epfd_, EPOLL_CTL_DEL, listen_.fd, nullptr);
    accepting_ = false;
  }
  std::vector<Client*> all;
  for (Client* c = clients_.next; c != &clients_; c = c->next) all.push_back(c);
  for (Client* c : all) CloseClient(c, true);
  held.Set(0);
  heldq_.clear();
  for (auto& kv : locals_) {
    std::vector<Up*> idle;
    idle.swap(kv.second->idle);
    for (Up* u : idle) {
      u->st = UpState::Busy;
      CloseUp(u, false);
    }
    kv.second->waitq.clear();
  }
  for (Sock* s : graveyard_) FreeSock(s);
  graveyard_.clear();
  forgetq_.clear();
  ready_.clear();
  current_.clear();
  locals_.clear();
  plane_->WorkerExited();
}

// ---- the plane ----

Plane::Plane(Options opts, EventFn onEvent) : opts_(std::move(opts)), onEvent_(std::move(onEvent)) {
  opts_.threads = std::max(1, std::min(opts_.threads, kMaxThreads));
  if (opts_.bufferBytes < 4096) opts_.bufferBytes = 4096;
  if (opts_.maxHeaderBytes < 256) opts_.maxHeaderBytes = 256;
  if (opts_.bufferBytes < opts_.maxHeaderBytes) opts_.bufferBytes = opts_.maxHeaderBytes;
  if (opts_.replayBytes > opts_.bufferBytes) opts_.replayBytes = opts_.bufferBytes;
  if (opts_.maxUpstreamConnsPerTarget == 0) opts_.maxUpstreamConnsPerTarget = 1;
  if (opts_.maxConnections == 0) opts_.maxConnections = 1;
}

Plane::~Plane() {
  Destroy();
}

int Plane::Start(int listenFd) {
  if (started_) return EALREADY;
  listenFd_ = fcntl(listenFd, F_DUPFD_CLOEXEC, 3);
  if (listenFd_ < 0) return errno;
  int fl = fcntl(listenFd_, F_GETFL);
  if (fl < 0 || fcntl(listenFd_, F_SETFL, fl | O_NONBLOCK) < 0) {
    int e = errno;
    CloseFd(listenFd_);
    return e;
  }
  int acc = 0;
  socklen_t al = sizeof acc;
  if (getsockopt(listenFd_, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) < 0 || acc == 0) {
    CloseFd(listenFd_);
    return EINVAL;
  }
  for (int i = 0; i < opts_.threads; i++) {
    auto w = std::make_unique<Worker>(this, i);
    int err = w->Init(listenFd_);
    if (err != 0) {
      workers_.clear();
      CloseFd(listenFd_);
      return err;
    }
    workers_.push_back(std::move(w));
  }
  running_ = opts_.threads;
  for (auto& w : workers_) {
    Worker* p = w.get();
    threads_.emplace_back([p] { p->Run(); });
  }
  started_ = true;
  return 0;
}

std::string Plane::SetTargets(const std::vector<TargetSpec>& specs, bool hold) {
  std::vector<std::shared_ptr<Target>> next;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (const TargetSpec& s : specs) {
      if (s.port <= 0 || s.port > 65535) return "target " + s.id + ": bad port";
      sockaddr_storage ss{};
      socklen_t sl = 0;
      const std::string host = s.host == "localhost" ? "127.0.0.1" : s.host;
      std::string h6 = host;
      if (h6.size() > 2 && h6.front() == '[' && h6.back() == ']') h6 = h6.substr(1, h6.size() - 2);
      sockaddr_in* a4 = reinterpret_cast<sockaddr_in*>(&ss);
      sockaddr_in6* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
      if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(static_cast<uint16_t>(s.port));
        sl = sizeof *a4;
      } else if (inet_pton(AF_INET6, h6.c_str(), &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(static_cast<uint16_t>(s.port));
        sl = sizeof *a6;
      } else {
        return "target " + s.id + ": host must be an IP address (resolve names before setTargets)";
      }
      std::shared_ptr<Target> t;
      auto it = targets_.find(s.id);
      if (it != targets_.end() && it->second->host == s.host && it->second->port == s.port) {
        t = it->second;
      } else {
        t = std::make_shared<Target>();
        t->id = s.id;
        t->host = s.host;
        t->port = s.port;
        t->addr = ss;
        t->addrLen = sl;
        targets_[s.id] = t;
      }
      next.push_back(t);
    }
    for (auto& t : current_) t->current.store(false);
    for (auto& t : next) {
      t->current.store(true);
      t->draining.store(false);
    }
    current_ = next;
  }
  for (auto& w : workers_) {
    Cmd c{CmdKind::Targets, next, hold, 0, nullptr};
    w->Post(std::move(c));
  }
  return "";
}

bool Plane::Drain(const std::string& id) {
  std::shared_ptr<Target> t;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = targets_.find(id);
    if (it == targets_.end()) return false;
    t = it->second;
  }
  t->draining.store(true);
  if (workers_.empty()) {
    Event* e = new Event();
    e->kind = Event::Idle;
    e->target = id;
    Emit(e);
    return true;
  }
  for (auto& w : workers_) w->Post(Cmd{CmdKind::Drain, {}, false, 0, t});
  return true;
}

int64_t Plane::InFlight(const std::string& id) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = targets_.find(id);
  if (it == targets_.end()) return -1;
  return it->second->InFlight();
}

bool Plane::Forget(const std::string& id) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = targets_.find(id);
  if (it == targets_.end() || it->second->current.load()) return false;
  targets_.erase(it);
  return true;
}

void Plane::StopAccepting() {
  for (auto& w : workers_) w->Post(Cmd{CmdKind::StopAccepting, {}, false, 0, nullptr});
}

void Plane::SetConnectionClose(bool on) {
  for (auto& w : workers_) w->Post(Cmd{CmdKind::ConnClose, {}, on, 0, nullptr});
}

void Plane::Close(uint32_t timeoutMs) {
  if (!started_ || joined_) {
    Event* e = new Event();
    e->kind = Event::Closed;
    Emit(e);
    return;
  }
  const uint64_t deadline = NowNs() + static_cast<uint64_t>(timeoutMs) * kMs;
  for (auto& w : workers_) w->Post(Cmd{CmdKind::Close, {}, false, deadline, nullptr});
}

void Plane::Destroy() {
  if (!started_ || joined_) return;
  for (auto& w : workers_) w->Post(Cmd{CmdKind::Destroy, {}, false, 0, nullptr});
  Join();
}

void Plane::Join() {
  if (!started_ || joined_) return;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  joined_ = true;
  CloseFd(listenFd_);
}

void Plane::WorkerExited() {
  if (running_.fetch_sub(1) == 1) {
    Event* e = new (std::nothrow) Event();
    if (e != nullptr) {
      e->kind = Event::Closed;
      Emit(e);
    }
  }
}

void Plane::Emit(Event* e) {
  if (onEvent_) onEvent_(e);
  else delete e;
}

void Plane::Snapshot(StatsOut* out) {
  *out = StatsOut{};
  out->connections = static_cast<uint64_t>(std::max<int64_t>(0, connections_.load()));
  for (auto& w : workers_) {
    out->connectionsTotal += w->connectionsTotal.Get();
    out->requests += w->requests.Get();
    out->bytesIn += w->bytesIn.Get();
    out->bytesOut += w->bytesOut.Get();
    out->held += w->held.Get();
    out->heldTotal += w->heldTotal.Get();
    out->heldSeconds += static_cast<double>(w->heldNs.Get()) / 1e9;
    out->durationSum += static_cast<double>(w->durNs.Get()) / 1e9;
    out->retries += w->retries.Get();
    out->upstreamConnects += w->upstreamConnects.Get();
    out->acceptErrors += w->acceptErrors.Get();
    out->shed += w->shed.Get();
    for (int i = 0; i < kErrKinds; i++) out->errors[i] += w->errors[i].Get();
    for (int i = 0; i < 5; i++) out->responses[i] += w->responses[i].Get();
    for (int i = 0; i <= kBuckets; i++) out->buckets[i] += w->buckets[i].Get();
  }
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& kv : targets_) {
    const Target& t = *kv.second;
    TargetStatsOut ts;
    ts.id = t.id;
    ts.current = t.current.load();
    ts.draining = t.draining.load();
    int64_t inflight = 0;
    for (int i = 0; i < kMaxThreads; i++) {
      const TargetCounters& pc = t.per[i];
      inflight += pc.inFlight.load(std::memory_order_relaxed);
      ts.connections += pc.conns.load(std::memory_order_relaxed);
      ts.idle += pc.idle.load(std::memory_order_relaxed);
      ts.total += pc.total.load(std::memory_order_relaxed);
      ts.bytesIn += pc.bytesIn.load(std::memory_order_relaxed);
      ts.bytesOut += pc.bytesOut.load(std::memory_order_relaxed);
    }
    ts.inFlight = static_cast<uint64_t>(std::max<int64_t>(0, inflight));
    out->targets.push_back(ts);
  }
}

}  // namespace gvhttp
