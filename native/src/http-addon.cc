// N-API face of the HTTP data plane: `new HttpPlane(onEvent, options)`, then `listen(fd)`. The loop
// threads report events (a target went idle, a warning, the plane closed) through a thread-safe
// function that is ref'd only while JavaScript waits for one (a drain or a close), so an idle plane
// never keeps the process alive. No C++ exception crosses this boundary (NAPI_DISABLE_CPP_EXCEPTIONS;
// bad arguments throw JavaScript errors and return).
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include <fcntl.h>

#include "http-plane.h"

namespace {

using gvhttp::Event;

struct State;
void CallJs(Napi::Env env, Napi::Function fn, State* state, Event* ev);
using Tsfn = Napi::TypedThreadSafeFunction<State, Event, CallJs>;

class HttpPlane;

// Outlives the HttpPlane object until the thread-safe function has delivered its last event.
struct State {
  Tsfn tsfn;
  HttpPlane* owner = nullptr;  // cleared when the object goes first
  // drain() calls and a close() not yet answered by their event: the TSFN is ref'd while > 0.
  int waiting = 0;
  bool refd = false;
};

void SetRef(Napi::Env env, State* s) {
  const bool want = s->waiting > 0;
  if (want == s->refd) return;
  if (want) s->tsfn.Ref(env);
  else s->tsfn.Unref(env);
  s->refd = want;
}

const char* ErrnoName(int err) {
  switch (err) {
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOMEM: return "ENOMEM";
    case EALREADY: return "EALREADY";
    case ENOTSOCK: return "ENOTSOCK";
    default: return "EIO";
  }
}

void ThrowErrno(Napi::Env env, int err, const char* what) {
  Napi::Error e = Napi::Error::New(env, std::string(what) + ": " + std::strerror(err));
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
}

uint32_t OptU32(Napi::Object o, const char* key, uint32_t dflt) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) return dflt;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 4294967295.0) return dflt;
  return static_cast<uint32_t>(d);
}

class HttpPlane : public Napi::ObjectWrap<HttpPlane> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "HttpPlane",
                       {
                           InstanceMethod<&HttpPlane::Listen>("listen"),
                           InstanceMethod<&HttpPlane::SetTargets>("setTargets"),
                           InstanceMethod<&HttpPlane::Drain>("drain"),
                           InstanceMethod<&HttpPlane::InFlight>("inFlight"),
                           InstanceMethod<&HttpPlane::Forget>("forget"),
                           InstanceMethod<&HttpPlane::StopAccepting>("stopAccepting"),
                           InstanceMethod<&HttpPlane::SetConnectionClose>("setConnectionClose"),
                           InstanceMethod<&HttpPlane::Close>("close"),
                           InstanceMethod<&HttpPlane::Destroy>("destroy"),
                           InstanceMethod<&HttpPlane::Stats>("stats"),
                           InstanceAccessor<&HttpPlane::Options>("options"),
                       });
  }

  explicit HttpPlane(const Napi::CallbackInfo& info) : Napi::ObjectWrap<HttpPlane>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction()) {
      Napi::TypeError::New(env, "HttpPlane(onEvent, options?): onEvent must be a function").ThrowAsJavaScriptException();
      return;
    }
    gvhttp::Options o;
    if (info.Length() >= 2 && info[1].IsObject()) {
      Napi::Object js = info[1].As<Napi::Object>();
      o.threads = static_cast<int>(OptU32(js, "threads", 1));
      o.maxHeaderBytes = OptU32(js, "maxHeaderBytes", o.maxHeaderBytes);
      o.headerTimeoutMs = OptU32(js, "headerTimeoutMs", o.headerTimeoutMs);
      o.clientIdleMs = OptU32(js, "clientIdleMs", o.clientIdleMs);
      o.queueTimeoutMs = OptU32(js, "queueTimeoutMs", o.queueTimeoutMs);
      o.retryGraceMs = OptU32(js, "retryGraceMs", o.retryGraceMs);
      o.retireIdleMs = OptU32(js, "retireIdleMs", o.retireIdleMs);
      o.maxHeld = OptU32(js, "maxHeld", o.maxHeld);
      o.upstreamTimeoutMs = OptU32(js, "upstreamTimeoutMs", o.upstreamTimeoutMs);
      o.upstreamIdleMs = OptU32(js, "upstreamIdleMs", o.upstreamIdleMs);
      o.maxUpstreamConnsPerTarget = OptU32(js, "maxUpstreamConnsPerTarget", o.maxUpstreamConnsPerTarget);
      o.maxConnections = OptU32(js, "maxConnections", o.maxConnections);
      o.bufferBytes = OptU32(js, "bufferBytes", o.bufferBytes);
      o.replayBytes = OptU32(js, "replayBytes", o.replayBytes);
      o.lingerMs = OptU32(js, "lingerMs", o.lingerMs);
      Napi::Value proto = js.Get("proto");
      if (proto.IsString()) o.proto = proto.As<Napi::String>().Utf8Value();
      Napi::Value tp = js.Get("trustedProxies");
      if (tp.IsArray()) {
        Napi::Array a = tp.As<Napi::Array>();
        for (uint32_t i = 0; i < a.Length(); i++) {
          Napi::Value v = a.Get(i);
          gvhttp::Cidr c;
          if (!v.IsString() || !gvhttp::ParseCidr(v.As<Napi::String>().Utf8Value(), &c)) {
            Napi::TypeError::New(env, "trustedProxies: each entry must be an IP address or CIDR").ThrowAsJavaScriptException();
            return;
          }
          o.trustedProxies.push_back(c);
        }
      }
    }
    for (char ch : o.proto) {
      if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.')) {
        Napi::TypeError::New(env, "proto must be a URI scheme such as \"http\"").ThrowAsJavaScriptException();
        return;
      }
    }
    state_ = new State();
    state_->owner = this;
    state_->tsfn = Tsfn::New(env, info[0].As<Napi::Function>(), "gracevisor-http", 0, 1, state_,
                             [](Napi::Env, void*, State* s) { delete s; });
    state_->tsfn.Unref(env);
    Tsfn tsfn = state_->tsfn;
    plane_ = std::make_unique<gvhttp::Plane>(o, [tsfn](Event* e) mutable {
      // Unbounded queue: never blocks a loop thread. Fails only while the environment is torn down.
      if (tsfn.NonBlockingCall(e) != napi_ok) delete e;
    });
    napi_add_env_cleanup_hook(env, &HttpPlane::OnEnvCleanup, this);
    hooked_ = true;
    env_ = env;
  }

  ~HttpPlane() override {
    if (hooked_) napi_remove_env_cleanup_hook(env_, &HttpPlane::OnEnvCleanup, this);
    Shutdown();
  }

  // Called on the JS thread for each event, before the user's callback.
  void OnEvent(Napi::Env env, const Event& e) {
    if (e.kind == Event::Closed) {
      // Every thread has left its loop: joining is immediate.
      if (plane_) plane_->Join();
      if (closeWaiting_) {
        closeWaiting_ = false;
        state_->waiting--;
        SetRef(env, state_);
      }
    } else if (e.kind == Event::Idle) {
      if (drainsWaiting_ > 0 && plane_ && plane_->InFlight(e.target) <= 0) {
        // One wait per drain() call on this target is over (the JS side may ask again).
        auto it = drains_.find(e.target);
        if (it != drains_.end()) {
          state_->waiting -= it->second;
          drainsWaiting_ -= it->second;
          drains_.erase(it);
          SetRef(env, state_);
        }
      }
    }
  }

 private:
  static void OnEnvCleanup(void* arg) {
    HttpPlane* self = static_cast<HttpPlane*>(arg);
    self->hooked_ = false;
    self->Shutdown();
  }

  void Shutdown() {
    if (plane_) {
      plane_->Destroy();
      plane_.reset();
    }
    if (state_ != nullptr) {
      state_->owner = nullptr;
      state_->tsfn.Release();
      state_ = nullptr;
    }
  }

  bool Alive(Napi::Env env) {
    if (plane_ && state_ != nullptr) return true;
    ThrowErrno(env, EBADF, "the plane is destroyed");
    return false;
  }

  // listen(fd): the fd of a bound, listening socket (dup'ed; the caller may close its own).
  Napi::Value Listen(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    if (info.Length() < 1 || !info[0].IsNumber()) {
      Napi::TypeError::New(env, "listen(fd): fd must be a number").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int err = plane_->Start(info[0].As<Napi::Number>().Int32Value());
    if (err != 0) ThrowErrno(env, err, "cannot listen on that fd");
    return env.Undefined();
  }

  // setTargets([{id, host, port}], hold = true)
  Napi::Value SetTargets(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    if (info.Length() < 1 || !info[0].IsArray()) {
      Napi::TypeError::New(env, "setTargets(targets, hold?): targets must be an array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Array a = info[0].As<Napi::Array>();
    std::vector<gvhttp::TargetSpec> specs;
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      if (!v.IsObject()) {
        Napi::TypeError::New(env, "setTargets: each target must be {id, host, port}").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      Napi::Object t = v.As<Napi::Object>();
      Napi::Value id = t.Get("id"), host = t.Get("host"), port = t.Get("port");
      if (!id.IsString() || !host.IsString() || !port.IsNumber()) {
        Napi::TypeError::New(env, "setTargets: each target must be {id: string, host: string, port: number}").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      specs.push_back({id.As<Napi::String>().Utf8Value(), host.As<Napi::String>().Utf8Value(),
                       port.As<Napi::Number>().Int32Value()});
    }
    bool hold = info.Length() < 2 || !info[1].IsBoolean() || info[1].As<Napi::Boolean>().Value();
    std::string err = plane_->SetTargets(specs, hold);
    if (!err.empty()) Napi::TypeError::New(env, err).ThrowAsJavaScriptException();
    return env.Undefined();
  }

  // drain(id) -> boolean (false: unknown target). An {type:'idle', target:id} event follows.
  Napi::Value Drain(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    if (info.Length() < 1 || !info[0].IsString()) {
      Napi::TypeError::New(env, "drain(id): id must be a string").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::string id = info[0].As<Napi::String>().Utf8Value();
    if (!plane_->started()) return Napi::Boolean::New(env, plane_->Drain(id));
    bool known = plane_->Drain(id);
    if (known) {
      drains_[id]++;
      drainsWaiting_++;
      state_->waiting++;
      SetRef(env, state_);
    }
    return Napi::Boolean::New(env, known);
  }

  Napi::Value InFlight(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    if (info.Length() < 1 || !info[0].IsString()) {
      Napi::TypeError::New(env, "inFlight(id): id must be a string").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return Napi::Number::New(env, static_cast<double>(plane_->InFlight(info[0].As<Napi::String>().Utf8Value())));
  }

  Napi::Value Forget(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    if (info.Length() < 1 || !info[0].IsString()) {
      Napi::TypeError::New(env, "forget(id): id must be a string").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::string id = info[0].As<Napi::String>().Utf8Value();
    auto it = drains_.find(id);
    if (it != drains_.end()) {
      state_->waiting -= it->second;
      drainsWaiting_ -= it->second;
      drains_.erase(it);
      SetRef(env, state_);
    }
    return Napi::Boolean::New(env, plane_->Forget(id));
  }

  Napi::Value StopAccepting(const Napi::CallbackInfo& info) {
    if (Alive(info.Env())) plane_->StopAccepting();
    return info.Env().Undefined();
  }

  Napi::Value SetConnectionClose(const Napi::CallbackInfo& info) {
    if (Alive(info.Env())) plane_->SetConnectionClose(info.Length() < 1 || info[0].ToBoolean().Value());
    return info.Env().Undefined();
  }

  // close(timeoutMs): graceful; a {type:'closed'} event follows (threads joined by then).
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    uint32_t ms = 0xffffffffu;
    if (info.Length() >= 1 && info[0].IsNumber()) {
      double d = info[0].As<Napi::Number>().DoubleValue();
      ms = d >= 0 && d < 4294967295.0 ? static_cast<uint32_t>(d) : 0xffffffffu;
    }
    if (!closeWaiting_) {
      closeWaiting_ = true;
      state_->waiting++;
      SetRef(env, state_);
    }
    plane_->Close(ms);
    return env.Undefined();
  }

  // destroy(): reset everything now, join the threads. Idempotent; the object is unusable after.
  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    gvhttp::StatsOut s;
    plane_->Snapshot(&s);
    auto num = [&](uint64_t v) { return Napi::Number::New(env, static_cast<double>(v)); };
    Napi::Object o = Napi::Object::New(env);
    o.Set("connections", num(s.connections));
    o.Set("connectionsTotal", num(s.connectionsTotal));
    o.Set("requests", num(s.requests));
    Napi::Object errs = Napi::Object::New(env);
    static const char* kErrNames[gvhttp::kErrKinds] = {"400", "408", "431", "502", "503", "504"};
    for (int i = 0; i < gvhttp::kErrKinds; i++) errs.Set(kErrNames[i], num(s.errors[i]));
    o.Set("errors", errs);
    Napi::Object resp = Napi::Object::New(env);
    static const char* kCls[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 0; i < 5; i++) resp.Set(kCls[i], num(s.responses[i]));
    o.Set("responses", resp);
    o.Set("bytesIn", num(s.bytesIn));
    o.Set("bytesOut", num(s.bytesOut));
    Napi::Object dur = Napi::Object::New(env);
    Napi::Array le = Napi::Array::New(env, gvhttp::kBuckets);
    Napi::Array counts = Napi::Array::New(env, gvhttp::kBuckets + 1);
    for (int i = 0; i < gvhttp::kBuckets; i++) le.Set(i, Napi::Number::New(env, gvhttp::kBucketBounds[i]));
    for (int i = 0; i <= gvhttp::kBuckets; i++) counts.Set(i, num(s.buckets[i]));
    dur.Set("le", le);
    dur.Set("counts", counts);
    dur.Set("sum", Napi::Number::New(env, s.durationSum));
    o.Set("duration", dur);
    o.Set("held", num(s.held));
    o.Set("heldTotal", num(s.heldTotal));
    o.Set("heldSeconds", Napi::Number::New(env, s.heldSeconds));
    o.Set("retries", num(s.retries));
    o.Set("upstreamConnects", num(s.upstreamConnects));
    o.Set("acceptErrors", num(s.acceptErrors));
    o.Set("shed", num(s.shed));
    Napi::Array ts = Napi::Array::New(env, s.targets.size());
    for (size_t i = 0; i < s.targets.size(); i++) {
      const gvhttp::TargetStatsOut& t = s.targets[i];
      Napi::Object x = Napi::Object::New(env);
      x.Set("id", Napi::String::New(env, t.id));
      x.Set("current", Napi::Boolean::New(env, t.current));
      x.Set("draining", Napi::Boolean::New(env, t.draining));
      x.Set("connections", num(t.connections));
      x.Set("idle", num(t.idle));
      x.Set("inFlight", num(t.inFlight));
      x.Set("total", num(t.total));
      x.Set("bytesIn", num(t.bytesIn));
      x.Set("bytesOut", num(t.bytesOut));
      ts.Set(static_cast<uint32_t>(i), x);
    }
    o.Set("targets", ts);
    return o;
  }

  Napi::Value Options(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!plane_) return env.Undefined();
    const gvhttp::Options& p = plane_->options();
    Napi::Object o = Napi::Object::New(env);
    auto num = [&](double v) { return Napi::Number::New(env, v); };
    o.Set("threads", num(p.threads));
    o.Set("maxHeaderBytes", num(p.maxHeaderBytes));
    o.Set("headerTimeoutMs", num(p.headerTimeoutMs));
    o.Set("clientIdleMs", num(p.clientIdleMs));
    o.Set("queueTimeoutMs", num(p.queueTimeoutMs));
    o.Set("retryGraceMs", num(p.retryGraceMs));
    o.Set("retireIdleMs", num(p.retireIdleMs));
    o.Set("maxHeld", num(p.maxHeld));
    o.Set("upstreamTimeoutMs", num(p.upstreamTimeoutMs));
    o.Set("upstreamIdleMs", num(p.upstreamIdleMs));
    o.Set("maxUpstreamConnsPerTarget", num(p.maxUpstreamConnsPerTarget));
    o.Set("maxConnections", num(p.maxConnections));
    o.Set("bufferBytes", num(p.bufferBytes));
    o.Set("replayBytes", num(p.replayBytes));
    o.Set("lingerMs", num(p.lingerMs));
    o.Set("proto", Napi::String::New(env, p.proto));
    o.Set("trustedProxies", num(static_cast<double>(p.trustedProxies.size())));
    return o;
  }

  std::unique_ptr<gvhttp::Plane> plane_;
  State* state_ = nullptr;
  napi_env env_ = nullptr;
  bool hooked_ = false;
  bool closeWaiting_ = false;
  int drainsWaiting_ = 0;
  std::unordered_map<std::string, int> drains_;
};

void CallJs(Napi::Env env, Napi::Function fn, State* state, Event* ev) {
  std::unique_ptr<Event> e(ev);
  if (env == nullptr || e == nullptr) return;
  if (state != nullptr && state->owner != nullptr) state->owner->OnEvent(env, *e);
  if (fn.IsEmpty()) return;
  // Raw N-API with every status checked: while the environment is being torn down (the process
  // exits with a plane still reporting) these calls fail, and node-addon-api's wrappers would then
  // try to throw, which aborts the process (napi_throw: FATAL ERROR). Here a failed call drops the
  // event instead.
  napi_env raw = env;
  napi_value o;
  if (napi_create_object(raw, &o) != napi_ok) return;
  auto set = [&](const char* key, const std::string& value) {
    napi_value v;
    return napi_create_string_utf8(raw, value.data(), value.size(), &v) == napi_ok &&
           napi_set_named_property(raw, o, key, v) == napi_ok;
  };
  bool ok = true;
  switch (e->kind) {
    case Event::Idle:
      ok = set("type", "idle") && set("target", e->target);
      break;
    case Event::Log:
      ok = set("type", "log") && set("level", "warn") && set("msg", e->msg) &&
           (e->target.empty() || set("target", e->target)) && (e->code.empty() || set("code", e->code));
      break;
    case Event::Closed:
      ok = set("type", "closed");
      break;
  }
  if (!ok) return;
  napi_value undefined, result;
  if (napi_get_undefined(raw, &undefined) != napi_ok) return;
  napi_call_function(raw, undefined, fn, 1, &o, &result);
  // An exception thrown by the callback stays pending in JS (reported as uncaught); never here.
}

// dupFd(fd) -> a new close-on-exec descriptor of the same socket. The engine keeps the listening
// socket as a libuv handle that never polls it (to hand it to a successor daemon), on its own
// descriptor, while the plane's threads accept on theirs.
Napi::Value DupFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "dupFd(fd): fd must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) {
    ThrowErrno(env, errno, "dup");
    return env.Undefined();
  }
  return Napi::Number::New(env, copy);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("HttpPlane", HttpPlane::Init(env));
  exports.Set("dupFd", Napi::Function::New(env, DupFd, "dupFd"));
  exports.Set("platform", Napi::String::New(env, "linux"));
  return exports;
}

}  // namespace

NODE_API_MODULE(gracevisor_http, Init)
