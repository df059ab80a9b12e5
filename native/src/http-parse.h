// HTTP/1.1 message framing for the native data plane: request heads, response heads and the chunked
// coding, parsed strictly (RFC 9112). No allocation, no I/O, no N-API: the fuzz harness drives these
// functions directly. A proxy that frames a message differently from the app behind it is a
// request-smuggling hole, so anything ambiguous is an error here, never a guess.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gvhttp {

// Header names the proxy acts on; everything else is Other and passed through untouched.
enum class Hdr : uint8_t {
  Other,
  Host,
  ContentLength,
  TransferEncoding,
  Connection,
  KeepAlive,
  ProxyConnection,
  TE,
  Trailer,
  Upgrade,
  Expect,
  XForwardedFor,
  XForwardedProto,
  XForwardedHost,
};

struct Slice {
  uint32_t off = 0;  // from the start of the parsed buffer
  uint32_t len = 0;
};

struct Header {
  Slice name;
  Slice value;  // leading and trailing whitespace removed
  Hdr kind = Hdr::Other;
  bool drop = false;  // named by the Connection header (set by the caller's pass, not the parser)
};

// Most header lines a response head may have (more: 502), and the size of the parsed arrays.
constexpr int kMaxHeaders = 128;
// Most header lines a request head may have (more: 431). Below kMaxHeaders so that the head the
// proxy forwards (a few X-Forwarded-* and framing lines added) is still one it would accept itself;
// the fuzzer found that gap when both limits were 128.
constexpr int kMaxRequestHeaders = 100;
// Most header lines a response head may have (more: 502); the proxy adds at most two (framing,
// Connection) to what it relays, so the head a client gets stays within kMaxHeaders (fuzzer finding).
constexpr int kMaxResponseHeaders = 120;
// Most distinct names one Connection header list may carry (beyond close/keep-alive/upgrade).
constexpr int kMaxConnTokens = 16;

enum class Parse : uint8_t { Incomplete, Ok, Error };

// What went wrong, for the status the proxy answers and for the tests.
enum class Err : uint8_t {
  None,
  TooLarge,        // head over maxHeaderBytes or over kMaxHeaders lines: 431
  BadLine,         // request or status line malformed
  BadVersion,      // not HTTP/1.0 or HTTP/1.1
  BadMethod,
  BadTarget,
  BadHeaderName,   // empty, a non-token char, or whitespace before the colon
  BadHeaderValue,  // NUL, CR, LF or another control char in a value
  BareCR,          // CR not followed by LF, or LF without CR
  ObsFold,
  BadContentLength,   // non-numeric, overflow, list, or repeated (even with the same value)
  BadTransferEncoding,  // anything but a single `chunked`, or on an HTTP/1.0 request
  BothLengths,        // Content-Length and Transfer-Encoding in one request
  BadHost,            // missing on 1.1, repeated, or with characters no authority has
  TooManyConnTokens,
  BadStatus,
};

const char* ErrName(Err e);

// Body framing of a message as the parser found it.
enum class Body : uint8_t { None, Length, Chunked, Close };

struct Limits {
  uint32_t maxHeaderBytes = 16 * 1024;
  // Header lines accepted (at most kMaxHeaders).
  int maxHeaderLines = kMaxRequestHeaders;
};

struct RequestHead {
  // Bytes of the buffer the head took, CRLFCRLF included (and leading empty lines skipped).
  size_t consumed = 0;
  Slice method;
  Slice target;  // as received
  // Origin-form path (for absolute-form, the path part of the target; "/" when it had none).
  Slice path;
  // For absolute-form the authority from the target (it replaces any Host header), else the Host
  // header's value. hasHost false only on an HTTP/1.0 request without Host.
  Slice host;
  bool hasHost = false;
  bool absoluteForm = false;
  int version = 11;  // 10 or 11
  Body body = Body::None;
  uint64_t contentLength = 0;
  bool hasContentLength = false;  // a Content-Length header, even 0
  bool connClose = false;      // Connection: close
  bool connKeepAlive = false;  // Connection: keep-alive (meaningful for HTTP/1.0)
  bool connUpgrade = false;    // Connection: upgrade
  bool hasUpgrade = false;     // an Upgrade header
  bool expectContinue = false;  // Expect: 100-continue
  Slice upgrade;
  int nheaders = 0;
  Header headers[kMaxHeaders];
  int nconnTokens = 0;
  Slice connTokens[kMaxConnTokens];
};

struct ResponseHead {
  size_t consumed = 0;
  int version = 11;
  int status = 0;
  Slice reason;
  Body body = Body::Close;  // Close when neither length nor chunked was given (the caller decides for HEAD/1xx/204/304)
  uint64_t contentLength = 0;
  bool connClose = false;
  bool connKeepAlive = false;
  bool hadBothLengths = false;  // TE and CL both present: TE wins, the connection must not be reused
  int nheaders = 0;
  Header headers[kMaxHeaders];
  int nconnTokens = 0;
  Slice connTokens[kMaxConnTokens];
};

// Parses a request head from buf[0, len). Incomplete: more bytes are needed (and len is still below
// the limit); Error: *err says why (TooLarge means 431, anything else 400).
Parse ParseRequest(const char* buf, size_t len, const Limits& lim, RequestHead* out, Err* err);

// Parses a response head. maxBytes bounds the head and maxLines its header lines (beyond either:
// Error TooLarge).
Parse ParseResponse(const char* buf, size_t len, size_t maxBytes, ResponseHead* out, Err* err,
                    int maxLines = kMaxResponseHeaders);

// Incremental decoder of the chunked coding. Feed bytes; it reports data spans to copy out and when
// the message ended (after the last chunk and the trailer section, which is discarded).
class ChunkDecoder {
 public:
  enum class Step : uint8_t { NeedMore, Data, Done, Error };
  // Consumes from buf[0, len). On Data, *dataOff/*dataLen is a span of body bytes inside buf (copy
  // it out before the next call); *used is how many bytes of buf this step consumed (the data span
  // included). On NeedMore every byte was consumed. On Done *used ends right after the final CRLF.
  Step Feed(const char* buf, size_t len, size_t* used, size_t* dataOff, size_t* dataLen);
  bool done() const { return state_ == St::Done; }
  uint64_t remainingInChunk() const { return remaining_; }

 private:
  enum class St : uint8_t { Size, SizeExt, SizeLF, Data, DataCR, DataLF, Trailer, TrailerLF, TrailerLine, TrailerLineLF, Done, Error };
  St state_ = St::Size;
  uint64_t remaining_ = 0;
  int sizeDigits_ = 0;
  bool inQuote_ = false;
  bool extEscape_ = false;
  bool sawSemi_ = false;  // a ';' was seen on this chunk-size line
  // Bytes of chunk-size line and trailer section seen, bounded so a peer cannot make us spin on
  // an endless extension or trailer.
  uint32_t lineBytes_ = 0;
  uint32_t trailerBytes_ = 0;
};

// tchar per RFC 9110 5.6.2.
bool IsToken(unsigned char c);

// Case-insensitive equality of a slice of buf with a lowercase literal.
bool EqLower(const char* buf, Slice s, const char* lower, size_t n);

}  // namespace gvhttp
