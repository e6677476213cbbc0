package wire

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// The browser protocols: gRPC-Web (grpc/grpc doc/PROTOCOL-WEB.md) and
// parley's WebSocket framing (docs/protocol.md, "Browsers"). Both reuse
// gRPC's 5-byte frame prefix and give meaning to flag bits that gRPC over
// HTTP/2 leaves unused:
//
//	0x00  message                      (as gRPC)
//	0x01  compressed message           (as gRPC)
//	0x40  headers (WebSocket only): the client's request metadata, the
//	      server's response headers; an HTTP/1 header block
//	0x80  trailers: the sender's last frame; from a server an HTTP/1
//	      header block with grpc-status, from a WebSocket client empty
//	      (half-close)
//
// PROTOCOL-WEB.md: "8th (MSB) bit of the 1st gRPC frame byte: 0: data,
// 1: trailers"; "Key-value pairs encoded as a HTTP/1 headers block
// (without the terminating newline)".
const (
	// FlagHeaders marks a frame whose payload is a header block: the
	// first frame of a WebSocket call in each direction.
	FlagHeaders byte = 0x40
	// FlagTrailers marks the last frame of a gRPC-Web response body or of
	// either side of a WebSocket call.
	FlagTrailers byte = 0x80
)

// ContentTypeWebBase is the content-type of gRPC-Web; with "-text"
// appended the body is base64 text.
const ContentTypeWebBase = "application/grpc-web"

// WebContentType returns the gRPC-Web content-type for a codec name and
// encoding: "application/grpc-web+msgpack", "application/grpc-web-text+proto",
// "application/grpc-web" (codec "" and binary).
func WebContentType(codecName string, text bool) string {
	ct := ContentTypeWebBase
	if text {
		ct += "-text"
	}
	if codecName != "" {
		ct += "+" + codecName
	}
	return ct
}

// ParseWebContentType parses a gRPC-Web content-type (PROTOCOL-WEB.md,
// "Content-Type"):
//
//	"application/grpc-web"                → "", false, true
//	"application/grpc-web+msgpack"        → "msgpack", false, true
//	"application/grpc-web-text"           → "", true, true
//	"application/grpc-web-text+proto"     → "proto", true, true
//	"Application/GRPC-Web+MsgPack; q=1"   → "msgpack", false, true
//
// Anything else, including native "application/grpc" and
// "application/grpc-web-textx", reports ok=false. As with
// ParseContentType an empty subtype names no codec (protobuf by
// convention).
func ParseWebContentType(ct string) (subtype string, text, ok bool) {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.Trim(ct, " \t")
	if len(ct) < len(ContentTypeWebBase) || !strings.EqualFold(ct[:len(ContentTypeWebBase)], ContentTypeWebBase) {
		return "", false, false
	}
	rest := ct[len(ContentTypeWebBase):]
	if len(rest) >= 5 && strings.EqualFold(rest[:5], "-text") {
		text, rest = true, rest[5:]
	}
	if rest == "" {
		return "", text, true
	}
	if rest[0] != '+' {
		return "", false, false
	}
	return lower(rest[1:]), text, true
}

// ErrBadWebFlag is returned by ParseWebFrame for a flag byte other than
// 0x00, 0x01, FlagHeaders and FlagTrailers.
var ErrBadWebFlag = errors.New("parley: invalid frame flag (want 0x00, 0x01, 0x40 or 0x80)")

// ParseWebFrame parses one frame of a gRPC-Web body or a WebSocket call
// from the front of buf. It is ParseMessage with the flags above also
// allowed: flag is the frame's first byte. Results are as ParseMessage's:
// ok=false, err=nil means buf holds only part of a frame; a frame longer
// than maxSize (when maxSize >= 0) is a *SizeError as soon as its prefix
// is in; an unknown flag is ErrBadWebFlag.
func ParseWebFrame(buf []byte, maxSize int) (rest []byte, flag byte, payload []byte, ok bool, err error) {
	if len(buf) == 0 {
		return buf, 0, nil, false, nil
	}
	flag = buf[0]
	switch flag {
	case FlagUncompressed, FlagCompressed, FlagHeaders, FlagTrailers:
	default:
		return buf, flag, nil, false, ErrBadWebFlag
	}
	if len(buf) < PrefixLen {
		return buf, flag, nil, false, nil
	}
	length := binary.BigEndian.Uint32(buf[1:PrefixLen])
	if maxSize >= 0 && uint64(length) > uint64(maxSize) {
		size := int(min(uint64(length), uint64(math.MaxInt)))
		return buf, flag, nil, false, &SizeError{Size: size, Max: maxSize}
	}
	if uint64(len(buf)-PrefixLen) < uint64(length) {
		return buf, flag, nil, false, nil
	}
	end := PrefixLen + int(length)
	return buf[end:], flag, buf[PrefixLen:end:end], true, nil
}

// AppendWebFrame appends a frame with the given flag and payload to dst.
// It panics when payload is longer than MaxMessageLen.
func AppendWebFrame(dst []byte, flag byte, payload []byte) []byte {
	if uint64(len(payload)) > MaxMessageLen {
		panic(fmt.Sprintf("parley: frame length %d cannot be framed (max %d)", len(payload), uint64(MaxMessageLen)))
	}
	dst = binary.BigEndian.AppendUint32(append(dst, flag), uint32(len(payload)))
	return append(dst, payload...)
}

// AppendHeaderBlock appends h as an HTTP/1 header block, one
// "name: value\r\n" line per value, names lower-cased and sorted (values
// of one name in order), so that equal maps give equal bytes. It is the
// payload of a gRPC-Web trailers frame and of the WebSocket framing's
// header frames. Names and values must already be valid header fields
// (EncodeHeader's output is); AppendHeaderBlock returns an error, and
// appends nothing, for a name that is not a token or a value with a
// control character, which would let the peer read a different block.
func AppendHeaderBlock(dst []byte, h map[string][]string) ([]byte, error) {
	names := make([]string, 0, len(h))
	for k, vs := range h {
		if len(vs) == 0 {
			continue
		}
		if !validHeaderName(k) {
			return dst, fmt.Errorf("parley: invalid header name %q", k)
		}
		for _, v := range vs {
			if !validHeaderValue(v) {
				return dst, fmt.Errorf("parley: invalid value for header %q", k)
			}
		}
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(lower(a), lower(b)) })
	for _, k := range names {
		lk := lower(k)
		for _, v := range h[k] {
			dst = append(dst, lk...)
			dst = append(dst, ": "...)
			dst = append(dst, v...)
			dst = append(dst, "\r\n"...)
		}
	}
	return dst, nil
}

// ParseHeaderBlock parses an HTTP/1 header block (AppendHeaderBlock's
// output, or any gRPC-Web server's trailers): lines "name: value" ended by
// "\r\n" (a bare "\n" and a missing end on the last line are accepted),
// names case-insensitive and returned lower-cased, optional white space
// around values trimmed; empty lines are skipped. A line with no colon, an
// invalid name or a control character in a value is an error. Obsolete line
// folding (a line starting with white space) is refused, as RFC 9112
// allows.
func ParseHeaderBlock(b []byte) (map[string][]string, error) {
	h := map[string][]string{}
	for len(b) > 0 {
		var line []byte
		if i := indexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			continue
		}
		colon := indexByte(line, ':')
		if colon < 0 {
			return nil, fmt.Errorf("parley: header line without a colon: %q", truncate(line))
		}
		name := string(line[:colon])
		if !validHeaderName(name) {
			return nil, fmt.Errorf("parley: invalid header name %q", truncate(line[:colon]))
		}
		value := strings.Trim(string(line[colon+1:]), " \t")
		if !validHeaderValue(value) {
			return nil, fmt.Errorf("parley: invalid value for header %q", name)
		}
		name = lower(name)
		h[name] = append(h[name], value)
	}
	return h, nil
}

// DecodeBase64Chunks decodes the base64 text of a gRPC-Web "-text" body,
// which is a concatenation of padded base64 chunks ("the implementation
// may send base64-encoded chunks with potential padding whenever the
// runtime needs to flush", PROTOCOL-WEB.md): padding may appear in the
// middle of the text, at the end of any 4-character quantum. It decodes
// every complete quantum at the front of src, appends the bytes to dst,
// and returns dst and the number of characters consumed (a multiple of 4);
// the caller keeps the rest (at most 3 characters) and calls again when
// more text has arrived. Characters outside the standard alphabet, and
// padding anywhere but at the end of a quantum, are an error; so is text
// that ends with an incomplete quantum, which the caller detects as a
// remainder at the end of the body.
func DecodeBase64Chunks(dst, src []byte) ([]byte, int, error) {
	n := len(src) &^ 3
	for k, c := range src[:n] {
		// The standard decoder skips line breaks, which would shift the
		// quanta: refuse them with every other stray byte.
		if !isBase64Char(c) {
			return dst, 0, fmt.Errorf("parley: malformed base64 text: byte %#02x at offset %d", c, k)
		}
	}
	i := 0
	for i < n {
		// The longest run of quanta with no padding, then one quantum
		// that may end in padding.
		j := i
		for j < n && src[j+3] != '=' {
			j += 4
		}
		if j < n {
			j += 4
		}
		var err error
		dst, err = base64.StdEncoding.AppendDecode(dst, src[i:j])
		if err != nil {
			return dst, i, fmt.Errorf("parley: malformed base64 text at offset %d: %w", i, err)
		}
		i = j
	}
	return dst, n, nil
}

func isBase64Char(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '='
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
