// The heads the proxy writes: a parsed client request rewritten for the upstream, and a parsed
// upstream response rewritten for the client. Pure functions over the parser's output (the fuzz
// harness checks that every head written here parses back to the same framing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "http-parse.h"

namespace gvhttp {

struct ForwardCtx {
  // The client's address as text (X-Forwarded-For appends it).
  const char* clientIp = "";
  size_t clientIpLen = 0;
  // The peer is a trusted proxy: its X-Forwarded-* headers are kept (XFF appended to).
  bool trusted = false;
  // X-Forwarded-Proto the proxy sets.
  const char* proto = "http";
  // Forward as an upgrade (Upgrade and Connection: upgrade kept).
  bool upgrade = false;
};

// Appends the upstream request head for r (parsed from buf): always HTTP/1.1, origin-form, Host
// first, hop-by-hop headers and the client's framing headers removed, the proxy's framing and
// X-Forwarded-* added.
void WriteRequestHead(const char* buf, const RequestHead& r, const ForwardCtx& c, std::string* out);

// How the response body goes to the client.
enum class OutFraming : uint8_t {
  None,     // no body and no length header (1xx, 204)
  AsIs,     // no body follows, but the upstream's Content-Length is passed (HEAD, 304)
  Length,   // Content-Length: length
  Chunked,  // Transfer-Encoding: chunked (re-framed by the proxy)
  Close,    // close-delimited (an HTTP/1.0 client, unknown length)
};
enum class OutConn : uint8_t { Default, Close, KeepAlive, Upgrade };

void WriteResponseHead(const char* buf, const ResponseHead& r, OutFraming f, uint64_t length, OutConn conn, std::string* out);

// A complete short response from the proxy itself (502, 503, ...), Connection: close or not.
void WriteErrorResponse(int status, bool close, std::string* out);

// "<hex>\r\n" for a chunk of n bytes into dst (at least 18 bytes); returns its length.
size_t ChunkHeader(uint64_t n, char* dst);

}  // namespace gvhttp
