// See http-rewrite.h.
#include "http-rewrite.h"

#include <cstdio>
#include <cstring>

namespace gvhttp {

namespace {

inline void Put(std::string* out, const char* buf, Slice s) { out->append(buf + s.off, s.len); }

inline void PutHeader(std::string* out, const char* buf, const Header& h) {
  out->append(buf + h.name.off, h.name.len);
  out->append(": ", 2);
  out->append(buf + h.value.off, h.value.len);
  out->append("\r\n", 2);
}

void PutU64(std::string* out, uint64_t v) {
  char tmp[24];
  int n = std::snprintf(tmp, sizeof tmp, "%llu", static_cast<unsigned long long>(v));
  out->append(tmp, static_cast<size_t>(n));
}

const char* Reason(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
  }
}

const char* ErrorBody(int status) {
  switch (status) {
    case 400: return "Bad Request: malformed or ambiguous request\n";
    case 408: return "Request Timeout: the request head did not arrive in time\n";
    case 431: return "Request Header Fields Too Large\n";
    case 502: return "Bad Gateway: the app instance cannot be reached\n";
    case 503: return "Service Unavailable: no app instance is ready\n";
    case 504: return "Gateway Timeout: the app instance did not answer in time\n";
    default: return "Error\n";
  }
}

}  // namespace

void WriteRequestHead(const char* buf, const RequestHead& r, const ForwardCtx& c, std::string* out) {
  Put(out, buf, r.method);
  out->push_back(' ');
  if (r.path.len == 0) out->push_back('/');
  else Put(out, buf, r.path);
  out->append(" HTTP/1.1\r\nHost: ", 17);
  if (r.hasHost) Put(out, buf, r.host);
  out->append("\r\n", 2);
  // X-Forwarded-For values, joined in order, with the peer appended (as nginx's
  // $proxy_add_x_forwarded_for and the JS engine do: the app reads the last entry, the one this
  // proxy vouches for). Only Proto and Host are a trusted peer's alone to set.
  bool xffSeen = false;
  bool protoSeen = false;
  bool fhostSeen = false;
  size_t xffAt = 0;
  std::string xff;
  for (int i = 0; i < r.nheaders; i++) {
    const Header& h = r.headers[i];
    if (h.drop) continue;
    switch (h.kind) {
      case Hdr::Other:
      case Hdr::Expect:
        PutHeader(out, buf, h);
        break;
      case Hdr::XForwardedFor:
        if (xffSeen) xff.append(", ", 2);
        xff.append(buf + h.value.off, h.value.len);
        xffSeen = true;
        break;
      case Hdr::XForwardedProto:
        if (c.trusted && !protoSeen) {
          PutHeader(out, buf, h);
          protoSeen = true;
        }
        break;
      case Hdr::XForwardedHost:
        if (c.trusted && !fhostSeen) {
          PutHeader(out, buf, h);
          fhostSeen = true;
        }
        break;
      default:
        // Host (written first), framing (re-framed below) and hop-by-hop headers.
        break;
    }
  }
  (void)xffAt;
  out->append("X-Forwarded-For: ", 17);
  if (xffSeen && !xff.empty()) {
    out->append(xff);
    out->append(", ", 2);
  }
  out->append(c.clientIp, c.clientIpLen);
  out->append("\r\n", 2);
  if (!protoSeen) {
    out->append("X-Forwarded-Proto: ", 19);
    out->append(c.proto);
    out->append("\r\n", 2);
  }
  if (!fhostSeen && r.hasHost && r.host.len > 0) {
    out->append("X-Forwarded-Host: ", 18);
    Put(out, buf, r.host);
    out->append("\r\n", 2);
  }
  if (r.body == Body::Chunked) {
    out->append("Transfer-Encoding: chunked\r\n", 28);
  } else if (r.body == Body::Length || r.hasContentLength) {
    out->append("Content-Length: ", 16);
    PutU64(out, r.contentLength);
    out->append("\r\n", 2);
  }
  if (c.upgrade) {
    out->append("Connection: upgrade\r\nUpgrade: ", 30);
    Put(out, buf, r.upgrade);
    out->append("\r\n", 2);
  }
  out->append("\r\n", 2);
}

void WriteResponseHead(const char* buf, const ResponseHead& r, OutFraming f, uint64_t length, OutConn conn, std::string* out) {
  char line[16];
  std::snprintf(line, sizeof line, "HTTP/1.1 %03d ", r.status);
  out->append(line, 13);
  Put(out, buf, r.reason);
  out->append("\r\n", 2);
  const Header* upgrade = nullptr;
  const Header* cl = nullptr;
  for (int i = 0; i < r.nheaders; i++) {
    const Header& h = r.headers[i];
    if (h.drop) continue;
    switch (h.kind) {
      case Hdr::ContentLength:
        if (cl == nullptr) cl = &h;
        break;
      case Hdr::Upgrade:
        upgrade = &h;
        break;
      case Hdr::Connection:
      case Hdr::KeepAlive:
      case Hdr::ProxyConnection:
      case Hdr::TE:
      case Hdr::Trailer:
      case Hdr::TransferEncoding:
        break;
      default:
        // Host, Expect and X-Forwarded-* mean nothing special in a response: passed.
        PutHeader(out, buf, h);
        break;
    }
  }
  switch (f) {
    case OutFraming::None:
    case OutFraming::Close:
      break;
    case OutFraming::AsIs:
      // HEAD and 304 describe the body a GET would have had: its framing headers are kept.
      if (r.body == Body::Chunked) out->append("Transfer-Encoding: chunked\r\n", 28);
      else if (cl != nullptr) PutHeader(out, buf, *cl);
      break;
    case OutFraming::Length:
      out->append("Content-Length: ", 16);
      PutU64(out, length);
      out->append("\r\n", 2);
      break;
    case OutFraming::Chunked:
      out->append("Transfer-Encoding: chunked\r\n", 28);
      break;
  }
  switch (conn) {
    case OutConn::Default:
      break;
    case OutConn::Close:
      out->append("Connection: close\r\n", 19);
      break;
    case OutConn::KeepAlive:
      out->append("Connection: keep-alive\r\n", 24);
      break;
    case OutConn::Upgrade:
      out->append("Connection: upgrade\r\n", 21);
      if (upgrade != nullptr) PutHeader(out, buf, *upgrade);
      break;
  }
  out->append("\r\n", 2);
}

void WriteErrorResponse(int status, bool close, std::string* out) {
  const char* body = ErrorBody(status);
  char head[256];
  int n = std::snprintf(head, sizeof head,
                        "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n%s\r\n",
                        status, Reason(status), std::strlen(body), close ? "Connection: close\r\n" : "");
  out->append(head, static_cast<size_t>(n));
  out->append(body);
}

size_t ChunkHeader(uint64_t n, char* dst) {
  static const char kHex[] = "0123456789abcdef";
  char tmp[17];
  int i = 16;
  do {
    tmp[i--] = kHex[n & 15];
    n >>= 4;
  } while (n != 0);
  size_t len = static_cast<size_t>(16 - i);
  std::memcpy(dst, tmp + i + 1, len);
  dst[len] = '\r';
  dst[len + 1] = '\n';
  return len + 2;
}

}  // namespace gvhttp
