// See http-parse.h. One pass per head: the caller only calls in once the head's CRLFCRLF may be
// there (ParseRequest/ParseResponse find it themselves and say Incomplete otherwise), so a client
// trickling a head byte by byte costs one memmem per read, not a parse.
#include "http-parse.h"

#include <cstring>

namespace gvhttp {

namespace {

struct Tables {
  bool token[256];
  bool value[256];  // field-value chars: HTAB, SP, VCHAR, obs-text
  bool target[256];  // request-target chars: VCHAR only (no SP, no CTL, no obs-text)
  bool host[256];    // chars an authority can have (reg-name, IP literal, port, pct-encoding)
  Tables() {
    for (int i = 0; i < 256; i++) {
      token[i] = (i >= '0' && i <= '9') || (i >= 'a' && i <= 'z') || (i >= 'A' && i <= 'Z') ||
                 (i != 0 && std::strchr("!#$%&'*+-.^_`|~", i) != nullptr);
      value[i] = i == '\t' || (i >= 0x20 && i != 0x7f);
      target[i] = i > 0x20 && i < 0x7f;
      host[i] = (i >= '0' && i <= '9') || (i >= 'a' && i <= 'z') || (i >= 'A' && i <= 'Z') ||
                (i != 0 && std::strchr("-._~!$&'()*+,;=:[]%", i) != nullptr);
    }
  }
};
const Tables kT;

inline unsigned char U(char c) { return static_cast<unsigned char>(c); }

inline char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// Finds CRLFCRLF in buf[from, len); returns the offset just past it, or 0.
size_t FindEnd(const char* buf, size_t len, size_t from) {
  if (len < from + 4) return 0;
  const void* p = memmem(buf + from, len - from, "\r\n\r\n", 4);
  return p == nullptr ? 0 : static_cast<size_t>(static_cast<const char*>(p) - buf) + 4;
}

Hdr Classify(const char* n, size_t len) {
  // Switch on length first: one comparison for almost every header that is not ours.
  switch (len) {
    case 2:
      if (Lower(n[0]) == 't' && Lower(n[1]) == 'e') return Hdr::TE;
      break;
    case 4:
      if (EqLower(n, {0, 4}, "host", 4)) return Hdr::Host;
      break;
    case 6:
      if (EqLower(n, {0, 6}, "expect", 6)) return Hdr::Expect;
      break;
    case 7:
      if (EqLower(n, {0, 7}, "upgrade", 7)) return Hdr::Upgrade;
      if (EqLower(n, {0, 7}, "trailer", 7)) return Hdr::Trailer;
      break;
    case 10:
      if (EqLower(n, {0, 10}, "connection", 10)) return Hdr::Connection;
      if (EqLower(n, {0, 10}, "keep-alive", 10)) return Hdr::KeepAlive;
      break;
    case 14:
      if (EqLower(n, {0, 14}, "content-length", 14)) return Hdr::ContentLength;
      break;
    case 15:
      if (EqLower(n, {0, 15}, "x-forwarded-for", 15)) return Hdr::XForwardedFor;
      break;
    case 16:
      if (EqLower(n, {0, 16}, "proxy-connection", 16)) return Hdr::ProxyConnection;
      if (EqLower(n, {0, 16}, "x-forwarded-host", 16)) return Hdr::XForwardedHost;
      break;
    case 17:
      if (EqLower(n, {0, 17}, "transfer-encoding", 17)) return Hdr::TransferEncoding;
      if (EqLower(n, {0, 17}, "x-forwarded-proto", 17)) return Hdr::XForwardedProto;
      break;
    default:
      break;
  }
  return Hdr::Other;
}

// Header lines of buf[pos, end) where end points just past the final CRLFCRLF. Shared by requests
// and responses. Returns Err::None or the reason.
Err ParseHeaderLines(const char* buf, size_t pos, size_t end, int maxLines, Header* hs, int* nout) {
  int n = 0;
  // The last CRLF (of the empty line) ends the section at end - 2.
  while (pos < end - 2) {
    const char c0 = buf[pos];
    if (c0 == ' ' || c0 == '\t') return Err::ObsFold;
    if (n == maxLines) return Err::TooLarge;
    size_t p = pos;
    while (kT.token[U(buf[p])]) p++;
    if (p == pos) return Err::BadHeaderName;
    if (buf[p] != ':') return Err::BadHeaderName;  // whitespace before the colon, or a non-token char
    Header& h = hs[n];
    h.name = {static_cast<uint32_t>(pos), static_cast<uint32_t>(p - pos)};
    h.kind = Classify(buf + pos, p - pos);
    h.drop = false;
    p++;
    while (buf[p] == ' ' || buf[p] == '\t') p++;
    const size_t vs = p;
    for (;;) {
      const unsigned char c = U(buf[p]);
      if (kT.value[c]) {
        p++;
        continue;
      }
      if (c == '\r') {
        if (buf[p + 1] != '\n') return Err::BareCR;
        break;
      }
      if (c == '\n') return Err::BareCR;
      return Err::BadHeaderValue;
    }
    size_t ve = p;
    while (ve > vs && (buf[ve - 1] == ' ' || buf[ve - 1] == '\t')) ve--;
    h.value = {static_cast<uint32_t>(vs), static_cast<uint32_t>(ve - vs)};
    n++;
    pos = p + 2;
  }
  *nout = n;
  return Err::None;
}

// Content-Length: 1*DIGIT, at most 18 digits (no overflow of uint64_t; far above any real body).
bool ParseLength(const char* buf, Slice v, uint64_t* out) {
  if (v.len == 0 || v.len > 18) return false;
  uint64_t x = 0;
  for (uint32_t i = 0; i < v.len; i++) {
    const char c = buf[v.off + i];
    if (c < '0' || c > '9') return false;
    x = x * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = x;
  return true;
}

// Splits a Connection header's list into the flags and the names it makes hop-by-hop.
Err ConnectionTokens(const char* buf, Slice v, bool* close, bool* keepAlive, bool* upgrade, Slice* toks, int* ntok) {
  uint32_t i = v.off;
  const uint32_t e = v.off + v.len;
  while (i < e) {
    while (i < e && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == ',')) i++;
    const uint32_t s = i;
    while (i < e && kT.token[U(buf[i])]) i++;
    const uint32_t te = i;
    while (i < e && (buf[i] == ' ' || buf[i] == '\t')) i++;
    if (i < e && buf[i] != ',') return Err::BadHeaderValue;
    if (te == s) continue;
    Slice t{s, te - s};
    if (EqLower(buf, t, "close", 5)) *close = true;
    else if (EqLower(buf, t, "keep-alive", 10)) *keepAlive = true;
    else if (EqLower(buf, t, "upgrade", 7)) *upgrade = true;
    else {
      if (*ntok == kMaxConnTokens) return Err::TooManyConnTokens;
      toks[(*ntok)++] = t;
    }
  }
  return Err::None;
}

void MarkDropped(const char* buf, Header* hs, int n, const Slice* toks, int ntok) {
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < ntok; k++) {
      if (hs[i].name.len != toks[k].len) continue;
      bool eq = true;
      for (uint32_t j = 0; j < toks[k].len && eq; j++) eq = Lower(buf[hs[i].name.off + j]) == Lower(buf[toks[k].off + j]);
      if (eq) {
        hs[i].drop = true;
        break;
      }
    }
  }
}

bool ValidHost(const char* buf, Slice s) {
  for (uint32_t i = 0; i < s.len; i++) {
    if (!kT.host[U(buf[s.off + i])]) return false;
  }
  return true;
}

}  // namespace

bool IsToken(unsigned char c) { return kT.token[c]; }

bool EqLower(const char* buf, Slice s, const char* lower, size_t n) {
  if (s.len != n) return false;
  for (size_t i = 0; i < n; i++) {
    if (Lower(buf[s.off + i]) != lower[i]) return false;
  }
  return true;
}

const char* ErrName(Err e) {
  switch (e) {
    case Err::None: return "none";
    case Err::TooLarge: return "header section too large";
    case Err::BadLine: return "malformed request line";
    case Err::BadVersion: return "unsupported HTTP version";
    case Err::BadMethod: return "bad method";
    case Err::BadTarget: return "bad request target";
    case Err::BadHeaderName: return "bad header name";
    case Err::BadHeaderValue: return "bad header value";
    case Err::BareCR: return "bare CR or LF";
    case Err::ObsFold: return "obsolete line folding";
    case Err::BadContentLength: return "bad Content-Length";
    case Err::BadTransferEncoding: return "bad Transfer-Encoding";
    case Err::BothLengths: return "both Content-Length and Transfer-Encoding";
    case Err::BadHost: return "bad Host";
    case Err::TooManyConnTokens: return "too many Connection options";
    case Err::BadStatus: return "malformed status line";
  }
  return "error";
}

Parse ParseRequest(const char* buf, size_t len, const Limits& lim, RequestHead* out, Err* err) {
  *err = Err::None;
  size_t p = 0;
  // RFC 9112 2.2: ignore empty lines before the request line (bounded by the head limit).
  while (p + 1 < len && buf[p] == '\r' && buf[p + 1] == '\n') p += 2;
  const size_t end = FindEnd(buf, len, p >= 2 ? p - 2 : 0) ;
  if (end == 0 || end < p + 4) {
    if (len >= lim.maxHeaderBytes) {
      *err = Err::TooLarge;
      return Parse::Error;
    }
    return Parse::Incomplete;
  }
  if (end > lim.maxHeaderBytes) {
    *err = Err::TooLarge;
    return Parse::Error;
  }
  RequestHead& r = *out;
  r = RequestHead{};
  r.consumed = end;
  // request-line = method SP request-target SP HTTP-version CRLF
  const size_t ms = p;
  while (kT.token[U(buf[p])]) p++;
  if (p == ms || buf[p] != ' ') {
    *err = (buf[p] == '\r' && buf[p + 1] != '\n') ? Err::BareCR : Err::BadLine;
    return Parse::Error;
  }
  r.method = {static_cast<uint32_t>(ms), static_cast<uint32_t>(p - ms)};
  p++;
  const size_t ts = p;
  while (kT.target[U(buf[p])]) p++;
  if (p == ts || buf[p] != ' ') {
    *err = (buf[p] == '\r' || buf[p] == '\n') ? Err::BadLine : Err::BadTarget;
    return Parse::Error;
  }
  r.target = {static_cast<uint32_t>(ts), static_cast<uint32_t>(p - ts)};
  p++;
  if (end - p < 10 || std::memcmp(buf + p, "HTTP/1.", 7) != 0 || (buf[p + 7] != '0' && buf[p + 7] != '1') ||
      buf[p + 8] != '\r' || buf[p + 9] != '\n') {
    *err = (end - p >= 5 && std::memcmp(buf + p, "HTTP/", 5) == 0) ? Err::BadVersion : Err::BadLine;
    return Parse::Error;
  }
  r.version = buf[p + 7] == '1' ? 11 : 10;
  p += 10;
  if (EqLower(buf, r.method, "connect", 7)) {
    // authority-form tunnels are not a reverse proxy's business.
    *err = Err::BadMethod;
    return Parse::Error;
  }
  // Target forms (RFC 9112 3.2).
  const char t0 = buf[ts];
  if (t0 == '/') {
    r.path = r.target;
  } else if (t0 == '*' && r.target.len == 1) {
    if (!EqLower(buf, r.method, "options", 7)) {
      *err = Err::BadTarget;
      return Parse::Error;
    }
    r.path = r.target;
  } else {
    size_t sl = 0;
    if (r.target.len > 7 && EqLower(buf, {r.target.off, 7}, "http://", 7)) sl = 7;
    else if (r.target.len > 8 && EqLower(buf, {r.target.off, 8}, "https://", 8)) sl = 8;
    if (sl == 0) {
      *err = Err::BadTarget;
      return Parse::Error;
    }
    const uint32_t as = r.target.off + static_cast<uint32_t>(sl);
    const uint32_t te = r.target.off + r.target.len;
    uint32_t ae = as;
    while (ae < te && buf[ae] != '/' && buf[ae] != '?' && buf[ae] != '#') ae++;
    // userinfo@ in an http(s) URI is deprecated and a classic confusion vector: refuse it.
    Slice auth{as, ae - as};
    if (auth.len == 0 || !ValidHost(buf, auth) || std::memchr(buf + as, '@', auth.len) != nullptr) {
      *err = Err::BadTarget;
      return Parse::Error;
    }
    if (ae < te && buf[ae] != '/') {
      // "http://h?q": origin-form needs a leading "/" the buffer does not have.
      *err = Err::BadTarget;
      return Parse::Error;
    }
    r.absoluteForm = true;
    r.host = auth;
    r.hasHost = true;
    // "http://h" alone has path "/": represented as an empty slice, which the writer turns into "/".
    r.path = {ae, te - ae};
  }
  Err e = ParseHeaderLines(buf, p, end, lim.maxHeaderLines < kMaxHeaders ? lim.maxHeaderLines : kMaxHeaders, r.headers, &r.nheaders);
  if (e != Err::None) {
    *err = e;
    return Parse::Error;
  }
  bool seenCL = false, seenTE = false, seenHost = false;
  for (int i = 0; i < r.nheaders; i++) {
    Header& h = r.headers[i];
    switch (h.kind) {
      case Hdr::ContentLength:
        if (seenCL || !ParseLength(buf, h.value, &r.contentLength)) {
          *err = Err::BadContentLength;
          return Parse::Error;
        }
        seenCL = true;
        break;
      case Hdr::TransferEncoding:
        if (seenTE || r.version == 10 || !EqLower(buf, h.value, "chunked", 7)) {
          *err = Err::BadTransferEncoding;
          return Parse::Error;
        }
        seenTE = true;
        break;
      case Hdr::Host:
        if (seenHost || !ValidHost(buf, h.value)) {
          *err = Err::BadHost;
          return Parse::Error;
        }
        seenHost = true;
        if (!r.absoluteForm) {
          r.host = h.value;
          r.hasHost = true;
        }
        break;
      case Hdr::Connection:
        e = ConnectionTokens(buf, h.value, &r.connClose, &r.connKeepAlive, &r.connUpgrade, r.connTokens, &r.nconnTokens);
        if (e != Err::None) {
          *err = e;
          return Parse::Error;
        }
        break;
      case Hdr::Upgrade:
        r.hasUpgrade = true;
        r.upgrade = h.value;
        break;
      case Hdr::Expect:
        if (EqLower(buf, h.value, "100-continue", 12)) r.expectContinue = true;
        break;
      default:
        break;
    }
  }
  if (seenCL && seenTE) {
    *err = Err::BothLengths;
    return Parse::Error;
  }
  if (r.version == 11 && !seenHost && !r.absoluteForm) {
    *err = Err::BadHost;
    return Parse::Error;
  }
  r.hasContentLength = seenCL;
  if (seenTE) r.body = Body::Chunked;
  else if (seenCL && r.contentLength > 0) r.body = Body::Length;
  if (r.nconnTokens > 0) MarkDropped(buf, r.headers, r.nheaders, r.connTokens, r.nconnTokens);
  return Parse::Ok;
}

Parse ParseResponse(const char* buf, size_t len, size_t maxBytes, ResponseHead* out, Err* err, int maxLines) {
  *err = Err::None;
  const size_t end = FindEnd(buf, len, 0);
  if (end == 0) {
    if (len >= maxBytes) {
      *err = Err::TooLarge;
      return Parse::Error;
    }
    return Parse::Incomplete;
  }
  if (end > maxBytes) {
    *err = Err::TooLarge;
    return Parse::Error;
  }
  ResponseHead& r = *out;
  r = ResponseHead{};
  r.consumed = end;
  // status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF (a missing last SP is tolerated)
  if (end < 14 || std::memcmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ') {
    *err = Err::BadVersion;
    return Parse::Error;
  }
  r.version = buf[7] == '1' ? 11 : 10;
  if (buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' || buf[11] > '9') {
    *err = Err::BadStatus;
    return Parse::Error;
  }
  r.status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
  size_t p = 12;
  if (buf[p] == ' ') {
    p++;
    const size_t rs = p;
    while (kT.value[U(buf[p])]) p++;
    r.reason = {static_cast<uint32_t>(rs), static_cast<uint32_t>(p - rs)};
  }
  if (buf[p] != '\r' || buf[p + 1] != '\n') {
    *err = Err::BadStatus;
    return Parse::Error;
  }
  p += 2;
  Err e = ParseHeaderLines(buf, p, end, maxLines < kMaxHeaders ? maxLines : kMaxHeaders, r.headers, &r.nheaders);
  if (e != Err::None) {
    *err = e;
    return Parse::Error;
  }
  bool seenCL = false, seenTE = false;
  bool upgradeTok = false;
  for (int i = 0; i < r.nheaders; i++) {
    Header& h = r.headers[i];
    if (h.kind == Hdr::ContentLength) {
      uint64_t v = 0;
      // Repeated with the same value is tolerated in a response (RFC 9110 8.6); differing is not.
      if (!ParseLength(buf, h.value, &v) || (seenCL && v != r.contentLength)) {
        *err = Err::BadContentLength;
        return Parse::Error;
      }
      r.contentLength = v;
      seenCL = true;
    } else if (h.kind == Hdr::TransferEncoding) {
      if (seenTE || !EqLower(buf, h.value, "chunked", 7)) {
        *err = Err::BadTransferEncoding;
        return Parse::Error;
      }
      seenTE = true;
    } else if (h.kind == Hdr::Connection) {
      e = ConnectionTokens(buf, h.value, &r.connClose, &r.connKeepAlive, &upgradeTok, r.connTokens, &r.nconnTokens);
      if (e != Err::None) {
        *err = e;
        return Parse::Error;
      }
    }
  }
  if (seenTE) {
    r.body = Body::Chunked;
    r.hadBothLengths = seenCL;
  } else if (seenCL) {
    r.body = Body::Length;
  } else {
    r.body = Body::Close;
  }
  if (r.nconnTokens > 0) MarkDropped(buf, r.headers, r.nheaders, r.connTokens, r.nconnTokens);
  return Parse::Ok;
}

ChunkDecoder::Step ChunkDecoder::Feed(const char* buf, size_t len, size_t* used, size_t* dataOff, size_t* dataLen) {
  // Longest chunk-size line (size and extensions) and trailer section accepted.
  constexpr uint32_t kMaxLine = 4096;
  constexpr uint32_t kMaxTrailer = 16 * 1024;
  size_t i = 0;
  *dataOff = 0;
  *dataLen = 0;
  while (i < len) {
    const unsigned char c = U(buf[i]);
    switch (state_) {
      case St::Size: {
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d >= 0) {
          // 15 hex digits: below 2^60, no overflow, far above any real chunk.
          if (++sizeDigits_ > 15) goto fail;
          remaining_ = (remaining_ << 4) | static_cast<uint64_t>(d);
          i++;
          break;
        }
        if (sizeDigits_ == 0) goto fail;
        if (c == '\r') {
          state_ = St::SizeLF;
        } else if (c == ';' || c == ' ' || c == '\t') {
          // BWS before ';' is allowed; whitespace must lead to an extension.
          state_ = St::SizeExt;
          inQuote_ = false;
          extEscape_ = false;
          sawSemi_ = c == ';';
        } else {
          goto fail;
        }
        i++;
        break;
      }
      case St::SizeExt: {
        if (++lineBytes_ > kMaxLine) goto fail;
        if (inQuote_) {
          if (extEscape_) {
            if (!(c == '\t' || (c >= 0x20 && c != 0x7f))) goto fail;
            extEscape_ = false;
          } else if (c == '\\') {
            extEscape_ = true;
          } else if (c == '"') {
            inQuote_ = false;
          } else if (!(c == '\t' || (c >= 0x20 && c != 0x7f))) {
            goto fail;
          }
        } else if (c == '\r') {
          if (!sawSemi_) goto fail;
          state_ = St::SizeLF;
        } else if (c == ';') {
          sawSemi_ = true;
        } else if (c == ' ' || c == '\t') {
        } else if (!sawSemi_) {
          goto fail;  // "5 x": whitespace after the size not followed by ';'
        } else if (c == '"') {
          inQuote_ = true;
        } else if (c == '=' || kT.token[c]) {
        } else {
          goto fail;
        }
        i++;
        break;
      }
      case St::SizeLF:
        if (c != '\n') goto fail;
        i++;
        lineBytes_ = 0;
        sizeDigits_ = 0;
        if (remaining_ == 0) {
          state_ = St::Trailer;
        } else {
          state_ = St::Data;
        }
        break;
      case St::Data: {
        size_t n = len - i;
        if (n > remaining_) n = static_cast<size_t>(remaining_);
        remaining_ -= n;
        if (remaining_ == 0) state_ = St::DataCR;
        *dataOff = i;
        *dataLen = n;
        *used = i + n;
        return Step::Data;
      }
      case St::DataCR:
        if (c != '\r') goto fail;
        state_ = St::DataLF;
        i++;
        break;
      case St::DataLF:
        if (c != '\n') goto fail;
        state_ = St::Size;
        i++;
        break;
      case St::Trailer:
        // At the start of a trailer line: CR is the end of the message, anything else a field line.
        if (c == '\r') {
          state_ = St::TrailerLF;
          i++;
          break;
        }
        state_ = St::TrailerLine;
        [[fallthrough]];
      case St::TrailerLine:
        if (++trailerBytes_ > kMaxTrailer) goto fail;
        if (c == '\r') state_ = St::TrailerLineLF;
        else if (!(c == '\t' || (c >= 0x20 && c != 0x7f))) goto fail;
        i++;
        break;
      case St::TrailerLineLF:
        if (c != '\n') goto fail;
        state_ = St::Trailer;
        i++;
        break;
      case St::TrailerLF:
        if (c != '\n') goto fail;
        state_ = St::Done;
        *used = i + 1;
        return Step::Done;
      case St::Done:
        *used = i;
        return Step::Done;
      case St::Error:
        goto fail;
    }
  }
  *used = len;
  return state_ == St::Done ? Step::Done : Step::NeedMore;
fail:
  state_ = St::Error;
  *used = i;
  return Step::Error;
}

}  // namespace gvhttp
