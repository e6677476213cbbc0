package wire

import (
	"errors"
	"strconv"
	"strings"
)

// Version is the version of parley, sent in the user-agent.
const Version = "0.1.0"

// Names of the HTTP/2 header fields of the gRPC protocol. HTTP/2 header names
// are lower case on the wire.
const (
	// HeaderContentType is "content-type": "application/grpc" with an
	// optional "+codec" suffix; see [ContentType].
	HeaderContentType = "content-type"
	// HeaderTE is "te"; requests carry "te: trailers" ([TETrailers]) "Used to
	// detect incompatible proxies".
	HeaderTE = "te"
	// HeaderUserAgent is "user-agent"; see [UserAgent].
	HeaderUserAgent = "user-agent"
	// HeaderTimeout is "grpc-timeout", the call's remaining time as sent by
	// the client; see [EncodeTimeout].
	HeaderTimeout = "grpc-timeout"
	// HeaderEncoding is "grpc-encoding", the compression of the messages of
	// one direction ("gzip"); absent or "identity" means uncompressed.
	HeaderEncoding = "grpc-encoding"
	// HeaderAcceptEncoding is "grpc-accept-encoding", the comma-separated
	// compressions the sender can decompress; see [ParseAcceptEncoding].
	HeaderAcceptEncoding = "grpc-accept-encoding"
	// HeaderStatus is "grpc-status", the decimal status code in trailers.
	HeaderStatus = "grpc-status"
	// HeaderMessage is "grpc-message", the percent-encoded status message in
	// trailers; see [EncodeMessage].
	HeaderMessage = "grpc-message"
	// HeaderStatusDetails is "grpc-status-details-bin", an optional
	// base64-encoded google.rpc.Status (protobuf) with error details, sent
	// by grpc-go servers. parley passes it through as binary metadata.
	HeaderStatusDetails = "grpc-status-details-bin"
	// HeaderMessageType is "grpc-message-type", an optional request header
	// naming the message schema. Rarely used; parley ignores it.
	HeaderMessageType = "grpc-message-type"
)

// Pseudo-header names and fixed values of the gRPC request and response
// headers.
const (
	PseudoMethod    = ":method"    // always "POST" ([MethodPost])
	PseudoScheme    = ":scheme"    // "http" or "https"
	PseudoPath      = ":path"      // "/" Service-Name "/" method name; see [ParsePath]
	PseudoAuthority = ":authority" // virtual host name
	PseudoStatus    = ":status"    // response HTTP status, "200" for gRPC
	MethodPost      = "POST"
	TETrailers      = "trailers"
	// EncodingIdentity is the grpc-encoding meaning "not compressed".
	EncodingIdentity = "identity"
)

// ContentTypeBase is the content-type of gRPC, which a server must see at
// the start of the request's content-type: "If Content-Type does not begin
// with "application/grpc", gRPC servers SHOULD respond with HTTP status of
// 415 (Unsupported Media Type)."
const ContentTypeBase = "application/grpc"

// ContentTypeMsgpack is parley's content-type, ContentType("msgpack").
const ContentTypeMsgpack = "application/grpc+msgpack"

// ContentType returns the content-type for a codec name: "application/grpc"
// for "", otherwise "application/grpc+" followed by the name, for example
// "application/grpc+msgpack". From PROTOCOL-HTTP2.md:
//
//	Content-Type → "content-type" "application/grpc" [("+proto" / "+json" / {custom})]
func ContentType(codecName string) string {
	if codecName == "" {
		return ContentTypeBase
	}
	if codecName == "msgpack" {
		return ContentTypeMsgpack
	}
	return ContentTypeBase + "+" + codecName
}

// ParseContentType parses a gRPC content-type and returns the codec name
// (the part after "+", lower-cased) with ok=true:
//
//	"application/grpc"                  → "", true
//	"application/grpc+msgpack"          → "msgpack", true
//	"Application/GRPC+MsgPack"          → "msgpack", true  (media types are case-insensitive)
//	"application/grpc+msgpack; q=1"     → "msgpack", true  (parameters are ignored)
//	"application/grpc+"                 → "", true         (as grpc-go)
//
// Anything else reports ok=false, including "application/json",
// "application/grpc-web", "application/grpcx" and "". An empty subtype means
// the sender did not name a codec; by gRPC convention that is protobuf, and
// it is up to the runtime which codec, if any, to use for it.
func ParseContentType(ct string) (subtype string, ok bool) {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.Trim(ct, " \t")
	if len(ct) < len(ContentTypeBase) || !strings.EqualFold(ct[:len(ContentTypeBase)], ContentTypeBase) {
		return "", false
	}
	rest := ct[len(ContentTypeBase):]
	if rest == "" {
		return "", true
	}
	if rest[0] != '+' {
		return "", false
	}
	return lower(rest[1:]), true
}

// ParsePath splits a request's :path into service and method:
// "/pkg.Svc/Method" → "pkg.Svc", "Method". From PROTOCOL-HTTP2.md:
//
//	Path → ":path" "/" Service-Name "/" {method name}
//
// As in grpc-go the method is what follows the last "/", so "/a/b/M" gives
// service "a/b" (which will not match a registered service). It returns an
// error when the path does not start with "/", has no second "/", or has an
// empty service or method; servers answer such requests with UNIMPLEMENTED
// like any unknown method. "Path is case-sensitive": no case is changed.
func ParsePath(path string) (service, method string, err error) {
	if path == "" || path[0] != '/' {
		return "", "", errors.New("parley: malformed method path " + strconv.Quote(path) + ": does not start with \"/\"")
	}
	i := strings.LastIndexByte(path, '/')
	if i == 0 {
		return "", "", errors.New("parley: malformed method path " + strconv.Quote(path) + ": want \"/service/method\"")
	}
	service, method = path[1:i], path[i+1:]
	if service == "" || method == "" {
		return "", "", errors.New("parley: malformed method path " + strconv.Quote(path) + ": empty service or method name")
	}
	return service, method, nil
}

// Path returns the :path of a method: "/" + service + "/" + method.
func Path(service, method string) string {
	return "/" + service + "/" + method
}

// UserAgent returns the user-agent parley sends, "parley-go/" + version,
// following the structure PROTOCOL-HTTP2.md recommends: "User-Agent →
// "grpc-" Language ?("-" Variant) "/" Version ...", with parley's name.
func UserAgent(version string) string {
	return "parley-go/" + version
}

// ParseAcceptEncoding splits a grpc-accept-encoding value into its
// compression names, trimming spaces and dropping empty elements:
// "gzip, identity" → ["gzip" "identity"]. From PROTOCOL-HTTP2.md:
//
//	Message-Accept-Encoding → "grpc-accept-encoding" Content-Coding *("," Content-Coding)
func ParseAcceptEncoding(v string) []string {
	var out []string
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.Trim(part, " \t"); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// StatusFields emits the status fields of a call's trailers for err:
// grpc-status always (also "0" for a nil err: "Status must be sent in
// Trailers even if the status code is OK"), then grpc-message, percent-encoded
// with [EncodeMessage], when the message is not empty. A non-nil err that is
// not an *Error is converted with [AsError] first (an unknown error becomes
// UNKNOWN with err.Error() as message, as in grpc-go).
//
// The custom trailers of an *Error (Trailer) are not emitted here; the
// caller sends them with [EncodeHeader], next to these fields.
func StatusFields(err error, emit func(key, value string)) {
	if err == nil {
		emit(HeaderStatus, "0")
		return
	}
	e := AsError(err)
	emit(HeaderStatus, strconv.FormatUint(uint64(e.Code()), 10))
	if msg := e.Message(); msg != "" {
		emit(HeaderMessage, EncodeMessage(msg))
	}
}

// StatusFromTrailer builds a call's result from the status fields of its
// trailers (or trailers-only response): status and message are the raw
// grpc-status and grpc-message values ("" when absent) and trailer is the
// custom metadata decoded with [DecodeHeader].
//
//   - grpc-status "0": the call succeeded; StatusFromTrailer returns nil
//     (any grpc-message is ignored, as grpc-go does).
//   - another decimal number: a wire error ([NewWireError]) with that code,
//     the message decoded with [DecodeMessage], and trailer.
//   - grpc-status absent: a wire error with code INTERNAL and message
//     "server closed the stream without sending a grpc-status". The spec
//     says "Implementations must synthesize a Status & Status-Message"; note
//     that grpc-go reports UNKNOWN with an empty message in this case.
//   - grpc-status not a decimal number that fits in an int32: INTERNAL with
//     message "malformed grpc-status: ...". grpc-go (1.85) reports UNKNOWN,
//     and takes a sign ("+5", "-1") as part of the number.
//
// The trailer metadata is kept in the error in every failing case. A
// response without grpc-status whose HTTP status is not 200 should instead
// be reported with [CodeFromHTTPStatus].
func StatusFromTrailer(status, message string, trailer Metadata) error {
	if status == "0" {
		return nil
	}
	if status == "" {
		return NewWireError(Internal, "server closed the stream without sending a grpc-status", trailer)
	}
	if status[0] < '0' || status[0] > '9' {
		return NewWireError(Internal, "malformed grpc-status: "+strconv.Quote(status), trailer)
	}
	n, err := strconv.ParseInt(status, 10, 32) // grpc-go's range: an int32
	if err != nil {
		return NewWireError(Internal, "malformed grpc-status: "+strconv.Quote(status), trailer)
	}
	if n == 0 {
		return nil
	}
	return NewWireError(Code(n), DecodeMessage(message), trailer)
}
