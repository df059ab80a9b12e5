// libFuzzer harness for the request/response/chunk parsers and the head writers (ASan + UBSan).
// Beyond "no crash", it checks properties a smuggling bug would break:
//  - every slice the parser returns lies inside the head it consumed;
//  - parsing the consumed prefix alone gives the same result (no look-past-the-end);
//  - the head written for the upstream parses back with the same method, path, host and framing,
//    and a response head written for the client parses back with the same status and framing;
//  - the chunk decoder gives the same bytes and the same verdict fed whole or one byte at a time,
//    and re-encoding what it decoded decodes back to the same bytes.
// Input: first byte picks the mode, the rest is the message.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../src/http-parse.h"
#include "../src/http-rewrite.h"

using namespace gvhttp;

namespace {

#define CHECK(c)                                                  \
  do {                                                            \
    if (!(c)) {                                                   \
      std::fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__); \
      abort();                                                    \
    }                                                             \
  } while (0)

void InHead(Slice s, size_t consumed) { CHECK(static_cast<size_t>(s.off) + s.len <= consumed); }

bool SameSlice(const char* a, Slice sa, const char* b, Slice sb) {
  return sa.len == sb.len && std::memcmp(a + sa.off, b + sb.off, sa.len) == 0;
}

// Decodes data with a fresh decoder, in pieces of `step` bytes (0 = whole). Returns the verdict
// (0 need more, 1 done, 2 error) and the decoded bytes and bytes used.
int Decode(const char* data, size_t len, size_t step, std::string* outBytes, size_t* usedTotal) {
  ChunkDecoder d;
  size_t pos = 0;
  while (pos < len) {
    size_t n = step == 0 ? len - pos : (len - pos < step ? len - pos : step);
    size_t off = 0;
    while (off < n) {
      size_t used = 0, doff = 0, dlen = 0;
      ChunkDecoder::Step s = d.Feed(data + pos + off, n - off, &used, &doff, &dlen);
      CHECK(used <= n - off);
      if (s == ChunkDecoder::Step::Data) {
        CHECK(dlen > 0 && doff + dlen <= n - off && doff + dlen == used);
        outBytes->append(data + pos + off + doff, dlen);
        off += used;
        continue;
      }
      off += used;
      if (s == ChunkDecoder::Step::Done) {
        *usedTotal = pos + off;
        return 1;
      }
      if (s == ChunkDecoder::Step::Error) {
        *usedTotal = pos + off;
        return 2;
      }
      CHECK(off == n);
    }
    pos += n;
  }
  *usedTotal = len;
  return 0;
}

void FuzzRequest(const char* buf, size_t len, uint32_t limit, bool trusted) {
  Limits lim;
  lim.maxHeaderBytes = limit;
  static RequestHead r, r2;
  Err err;
  Parse p = ParseRequest(buf, len, lim, &r, &err);
  if (p != Parse::Ok) {
    CHECK(p == Parse::Incomplete || err != Err::None);
    return;
  }
  CHECK(r.consumed <= len && r.consumed <= limit);
  InHead(r.method, r.consumed);
  InHead(r.target, r.consumed);
  InHead(r.path, r.consumed);
  if (r.hasHost) InHead(r.host, r.consumed);
  CHECK(r.nheaders <= kMaxHeaders);
  for (int i = 0; i < r.nheaders; i++) {
    InHead(r.headers[i].name, r.consumed);
    InHead(r.headers[i].value, r.consumed);
  }
  // The prefix alone parses the same.
  Err err2;
  CHECK(ParseRequest(buf, r.consumed, lim, &r2, &err2) == Parse::Ok && r2.consumed == r.consumed);
  // The rewritten head parses back to the same request.
  std::string out;
  ForwardCtx c;
  c.clientIp = "127.0.0.1";
  c.clientIpLen = 9;
  c.trusted = trusted;
  c.upgrade = r.hasUpgrade && r.connUpgrade && r.version == 11;
  WriteRequestHead(buf, r, c, &out);
  // What the proxy forwards must fit the largest head it parses at all (kMaxHeaders lines).
  Limits big;
  big.maxHeaderBytes = 1 << 20;
  big.maxHeaderLines = kMaxHeaders;
  Parse p2 = ParseRequest(out.data(), out.size(), big, &r2, &err2);
  if (p2 != Parse::Ok) {
    std::fprintf(stderr, "rewritten head does not parse (%s):\n%s\n", ErrName(err2), out.c_str());
    abort();
  }
  CHECK(r2.consumed == out.size());
  CHECK(SameSlice(buf, r.method, out.data(), r2.method));
  if (r.path.len > 0) CHECK(SameSlice(buf, r.path, out.data(), r2.path));
  CHECK(r2.hasHost);
  if (r.hasHost) CHECK(SameSlice(buf, r.host, out.data(), r2.host));
  CHECK(r2.body == r.body);
  CHECK(r2.body == Body::Chunked || r2.contentLength == r.contentLength);
  CHECK(!r2.connClose && r2.nconnTokens == 0);
  CHECK(r2.connUpgrade == c.upgrade);
}

void FuzzResponse(const char* buf, size_t len, bool head, bool client10) {
  static ResponseHead r, r2;
  Err err;
  Parse p = ParseResponse(buf, len, 8192, &r, &err);
  if (p != Parse::Ok) return;
  CHECK(r.consumed <= len);
  for (int i = 0; i < r.nheaders; i++) {
    InHead(r.headers[i].name, r.consumed);
    InHead(r.headers[i].value, r.consumed);
  }
  InHead(r.reason, r.consumed);
  OutFraming f;
  if (r.status < 200 || r.status == 204) f = OutFraming::None;
  else if (head || r.status == 304) f = OutFraming::AsIs;
  else if (r.body == Body::Length) f = OutFraming::Length;
  else if (!client10) f = OutFraming::Chunked;
  else f = OutFraming::Close;
  std::string out;
  WriteResponseHead(buf, r, f, r.contentLength, f == OutFraming::Close ? OutConn::Close : OutConn::Default, &out);
  Err err2;
  Parse p2 = ParseResponse(out.data(), out.size(), 1 << 20, &r2, &err2, kMaxHeaders);
  if (p2 != Parse::Ok) {
    std::fprintf(stderr, "rewritten response does not parse (%s):\n%s\n", ErrName(err2), out.c_str());
    abort();
  }
  CHECK(r2.status == r.status);
  if (f == OutFraming::Length) CHECK(r2.body == Body::Length && r2.contentLength == r.contentLength);
  if (f == OutFraming::Chunked) CHECK(r2.body == Body::Chunked && !r2.hadBothLengths);
  if (f == OutFraming::Close || f == OutFraming::None) CHECK(r2.body == Body::Close);
}

void FuzzChunks(const char* buf, size_t len, size_t step) {
  std::string a, b;
  size_t ua = 0, ub = 0;
  int va = Decode(buf, len, 0, &a, &ua);
  int vb = Decode(buf, len, step, &b, &ub);
  CHECK(va == vb);
  CHECK(a == b);
  if (va != 0) CHECK(ua == ub);
  if (va == 1) {
    // Re-encode in chunks as the proxy does and decode again.
    std::string enc;
    char hdr[20];
    for (size_t i = 0; i < a.size(); i += 1000) {
      size_t n = a.size() - i < 1000 ? a.size() - i : 1000;
      enc.append(hdr, ChunkHeader(n, hdr));
      enc.append(a, i, n);
      enc.append("\r\n");
    }
    enc.append("0\r\n\r\n");
    std::string c;
    size_t uc = 0;
    CHECK(Decode(enc.data(), enc.size(), 0, &c, &uc) == 1 && c == a && uc == enc.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t mode = data[0];
  const char* buf = reinterpret_cast<const char*>(data + 1);
  const size_t len = size - 1;
  switch (mode & 3) {
    case 0:
      FuzzRequest(buf, len, (mode & 4) ? 64 : 16384, (mode & 8) != 0);
      break;
    case 1:
      FuzzResponse(buf, len, (mode & 4) != 0, (mode & 8) != 0);
      break;
    case 2:
      FuzzChunks(buf, len, 1 + (mode >> 2));
      break;
    case 3: {
      // A request head and the chunked body after it, as the plane reads them.
      static RequestHead r;
      Limits lim;
      Err err;
      if (ParseRequest(buf, len, lim, &r, &err) == Parse::Ok && r.body == Body::Chunked) {
        FuzzChunks(buf + r.consumed, len - r.consumed, 1 + (mode >> 2));
      }
      break;
    }
  }
  return 0;
}
