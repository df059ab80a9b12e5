// N-API face of the splice loop: `new Splicer(onEnd, options)` owns one epoll thread; JavaScript hands
// it pairs of connected socket fds and hears back, on its own thread, when each pair has ended.
#include <napi.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>

#include "splice-loop.h"

namespace {

using gvsplice::EndReport;

struct State;
void CallJs(Napi::Env env, Napi::Function fn, State* state, EndReport* report);
using Tsfn = Napi::TypedThreadSafeFunction<State, EndReport, CallJs>;

// Outlives the Splicer until the thread-safe function has delivered its last queued report.
struct State {
  Tsfn tsfn;
  // Connections added and not yet reported ended; the TSFN keeps the process alive only while > 0.
  int open = 0;
};

const char* ErrnoName(int err) {
  switch (err) {
    case 0: return "";
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNABORTED: return "ECONNABORTED";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    case ENOTCONN: return "ENOTCONN";
    case EBADF: return "EBADF";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOMEM: return "ENOMEM";
    case EINVAL: return "EINVAL";
    case ESHUTDOWN: return "ESHUTDOWN";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EAGAIN: return "EAGAIN";
    case EPROTOTYPE: return "EPROTOTYPE";
    default: return "EIO";
  }
}

void CallJs(Napi::Env env, Napi::Function fn, State* state, EndReport* report) {
  std::unique_ptr<EndReport> r(report);
  if (state != nullptr && --state->open == 0) state->tsfn.Unref(env);
  if (env == nullptr || fn.IsEmpty()) return;
  Napi::Object info = Napi::Object::New(env);
  info.Set("id", Napi::Number::New(env, static_cast<double>(r->id)));
  info.Set("bytesIn", Napi::Number::New(env, static_cast<double>(r->bytes[0])));
  info.Set("bytesOut", Napi::Number::New(env, static_cast<double>(r->bytes[1])));
  info.Set("reason", Napi::String::New(env, r->reason));
  if (r->err != 0) info.Set("code", Napi::String::New(env, ErrnoName(r->err)));
  if (r->side >= 0) info.Set("side", Napi::String::New(env, r->side == 0 ? "client" : "upstream"));
  fn.Call({info});
}

size_t OptSize(Napi::Object o, const char* key, size_t dflt) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) return dflt;
  double d = v.As<Napi::Number>().DoubleValue();
  return d > 0 ? static_cast<size_t>(d) : dflt;
}

bool OptBool(Napi::Object o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : dflt;
}

void ThrowErrno(Napi::Env env, int err, const char* what) {
  Napi::Error e = Napi::Error::New(env, std::string(what) + ": " + std::strerror(err));
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
}

class Splicer : public Napi::ObjectWrap<Splicer> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Splicer",
                       {
                           InstanceMethod<&Splicer::Add>("add"),
                           InstanceMethod<&Splicer::Abort>("abort"),
                           InstanceMethod<&Splicer::Counters>("counters"),
                           InstanceMethod<&Splicer::Close>("close"),
                           InstanceAccessor<&Splicer::Open>("open"),
                           InstanceAccessor<&Splicer::Options>("options"),
                       });
  }

  explicit Splicer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Splicer>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction()) {
      Napi::TypeError::New(env, "Splicer(onEnd, options?): onEnd must be a function").ThrowAsJavaScriptException();
      return;
    }
    if (info.Length() >= 2 && info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      opts_.pipeSize = OptSize(o, "pipeSize", opts_.pipeSize);
      opts_.chunkSize = OptSize(o, "chunkSize", opts_.chunkSize);
      opts_.edgeTriggered = OptBool(o, "edgeTriggered", opts_.edgeTriggered);
      opts_.spliceMore = OptBool(o, "spliceMore", opts_.spliceMore);
      opts_.growPipes = OptBool(o, "growPipes", opts_.growPipes);
    }
    state_ = new State();
    state_->tsfn = Tsfn::New(env, info[0].As<Napi::Function>(), "gracevisor-splice", 0, 1, state_,
                             [](Napi::Env, void*, State* s) { delete s; });
    // Idle engines must not hold the process open; Add refs while connections are open.
    state_->tsfn.Unref(env);
    Tsfn tsfn = state_->tsfn;
    loop_ = std::make_unique<gvsplice::Loop>(opts_, [tsfn](EndReport* r) mutable {
      // Unbounded queue: never blocks the loop thread. Fails only while the environment is torn down.
      if (tsfn.NonBlockingCall(r) != napi_ok) delete r;
    });
    int err = loop_->Start();
    if (err != 0) {
      ThrowErrno(env, err, "cannot start the splice loop");
      Shutdown();
      return;
    }
    napi_add_env_cleanup_hook(env, &Splicer::OnEnvCleanup, this);
    hooked_ = true;
    env_ = env;
  }

  ~Splicer() override {
    if (hooked_) napi_remove_env_cleanup_hook(env_, &Splicer::OnEnvCleanup, this);
    Shutdown();
  }

 private:
  static void OnEnvCleanup(void* arg) {
    Splicer* self = static_cast<Splicer*>(arg);
    self->hooked_ = false;
    self->Shutdown();
  }

  // Stops and joins the thread (every open connection is reset and reported), then lets the
  // thread-safe function go once its queue is delivered.
  void Shutdown() {
    if (loop_) loop_->Stop();
    if (state_ != nullptr) {
      state_->tsfn.Release();
      state_ = nullptr;
    }
  }

  Napi::Value Add(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (state_ == nullptr) {
      ThrowErrno(env, ESHUTDOWN, "the splicer is closed");
      return env.Undefined();
    }
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
      Napi::TypeError::New(env, "add(clientFd, upstreamFd): two fds").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int cfd = info[0].As<Napi::Number>().Int32Value();
    int ufd = info[1].As<Napi::Number>().Int32Value();
    // Counted before the loop can report the end, which it may do at once.
    if (state_->open++ == 0) state_->tsfn.Ref(env);
    int64_t id = loop_->Add(cfd, ufd);
    if (id < 0) {
      if (--state_->open == 0) state_->tsfn.Unref(env);
      ThrowErrno(env, static_cast<int>(-id), "cannot splice these sockets");
      return env.Undefined();
    }
    return Napi::Number::New(env, static_cast<double>(id));
  }

  Napi::Value Abort(const Napi::CallbackInfo& info) {
    if (state_ != nullptr && info.Length() >= 1 && info[0].IsNumber()) {
      loop_->Abort(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
    }
    return info.Env().Undefined();
  }

  // [id, bytesIn, bytesOut, id, bytesIn, bytesOut, …] for every open connection.
  Napi::Value Counters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<gvsplice::Counter> all;
    if (state_ != nullptr) loop_->Snapshot(all);
    Napi::Float64Array out = Napi::Float64Array::New(env, all.size() * 3);
    for (size_t i = 0; i < all.size(); i++) {
      out[i * 3] = static_cast<double>(all[i].id);
      out[i * 3 + 1] = static_cast<double>(all[i].bytes[0]);
      out[i * 3 + 2] = static_cast<double>(all[i].bytes[1]);
    }
    return out;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  Napi::Value Open(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), state_ != nullptr ? state_->open : 0);
  }

  Napi::Value Options(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("pipeSize", Napi::Number::New(env, static_cast<double>(opts_.pipeSize)));
    o.Set("chunkSize", Napi::Number::New(env, static_cast<double>(opts_.chunkSize)));
    o.Set("edgeTriggered", Napi::Boolean::New(env, opts_.edgeTriggered));
    o.Set("spliceMore", Napi::Boolean::New(env, opts_.spliceMore));
    o.Set("growPipes", Napi::Boolean::New(env, opts_.growPipes));
    return o;
  }

  gvsplice::Options opts_;
  std::unique_ptr<gvsplice::Loop> loop_;
  State* state_ = nullptr;
  napi_env env_ = nullptr;
  bool hooked_ = false;
};

// notify(socketPath, message): one datagram to an AF_UNIX SOCK_DGRAM socket, the sd_notify(3) protocol
// (Node's dgram has no unix sockets). A path starting with '@' is in the abstract namespace. Returns
// null once sent, or the errno name.
Napi::Value Notify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    Napi::TypeError::New(env, "notify(socketPath: string, message: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>();
  std::string msg = info[1].As<Napi::String>();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) return Napi::String::New(env, "EINVAL");
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Napi::String::New(env, ErrnoName(errno));
  ssize_t n = sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len);
  int err = n < 0 ? errno : 0;
  close(fd);
  if (err != 0) return Napi::String::New(env, ErrnoName(err));
  return env.Null();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Splicer", Splicer::Init(env));
  exports.Set("notify", Napi::Function::New(env, Notify, "notify"));
  exports.Set("platform", Napi::String::New(env, "linux"));
  return exports;
}

}  // namespace

NODE_API_MODULE(gracevisor_splice, Init)
