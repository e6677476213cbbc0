package wire

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Metadata is gRPC custom metadata: the application's key-value pairs sent
// as HTTP/2 header fields in request headers, response headers and
// trailers. Keys are lower case; each key has one or more values, kept in
// order. For keys ending in "-bin" ([IsBinaryKey]) the values are the raw
// bytes, held in a string; base64 is applied only on the wire, by
// [EncodeHeader] and [DecodeHeader].
//
// From PROTOCOL-HTTP2.md:
//
//	Custom-Metadata → Binary-Header / ASCII-Header
//	Binary-Header → {Header-Name "-bin" } {base64 encoded value}
//	ASCII-Header → Header-Name ASCII-Value
//	Header-Name → 1*( %x30-39 / %x61-7A / "_" / "-" / ".") ; 0-9 a-z _ - .
//	ASCII-Value → 1*( %x20-%x7E ) ; space and printable ASCII
//
// Metadata is a plain map: it is not safe for concurrent writes, and the
// methods that write (Set, Add, Del) need a non-nil map. The methods that
// take a key lower-case it first, so md.Get("X-Trace") finds "x-trace"; when
// building Metadata as a map literal, write the keys in lower case.
type Metadata map[string][]string

// Get returns the first value of key, or "" when there is none.
func (md Metadata) Get(key string) string {
	vs := md[lower(key)]
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// Values returns all values of key in order, or nil. The slice is md's own:
// do not modify it.
func (md Metadata) Values(key string) []string {
	return md[lower(key)]
}

// Set replaces the values of key with values. With no values it deletes
// key, so a key is never present with an empty list.
func (md Metadata) Set(key string, values ...string) {
	key = lower(key)
	if len(values) == 0 {
		delete(md, key)
		return
	}
	md[key] = append([]string(nil), values...)
}

// Add appends values to the values of key. With no values it does nothing.
func (md Metadata) Add(key string, values ...string) {
	if len(values) == 0 {
		return
	}
	key = lower(key)
	md[key] = append(md[key], values...)
}

// Del deletes key and all its values.
func (md Metadata) Del(key string) {
	delete(md, lower(key))
}

// Clone returns a deep copy of md (nil for nil) that shares no slice with it.
func (md Metadata) Clone() Metadata {
	if md == nil {
		return nil
	}
	c := make(Metadata, len(md))
	for k, vs := range md {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// Pairs returns Metadata built from alternating keys and values, like
// grpc-go's metadata.Pairs: Pairs("k1", "v1", "k2", "v2", "k1", "v3") has
// k1 → [v1 v3] and k2 → [v2]. Keys are lower-cased. It panics when given an
// odd number of strings, which is a programming error.
func Pairs(kv ...string) Metadata {
	if len(kv)%2 == 1 {
		panic(fmt.Sprintf("parley: wire.Pairs got an odd number of strings: %d", len(kv)))
	}
	md := make(Metadata, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		md.Add(kv[i], kv[i+1])
	}
	return md
}

// Join returns new Metadata holding the values of every md, in argument
// order: for a key present in several, the values are concatenated. It
// always returns a non-nil map that shares no slice with its arguments.
func Join(mds ...Metadata) Metadata {
	n := 0
	for _, md := range mds {
		n += len(md)
	}
	out := make(Metadata, n)
	for _, md := range mds {
		for k, vs := range md {
			k = lower(k)
			out[k] = append(out[k], vs...)
		}
	}
	return out
}

// lower returns s in ASCII lower case, without allocating when it already is.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// ValidKey reports, as a non-nil error naming the offending character,
// whether key is not a legal custom metadata key: "Header-Name →
// 1*( %x30-39 / %x61-7A / "_" / "-" / ".") ; 0-9 a-z _ - ." It does not
// check whether the key is reserved; see [IsReservedKey].
func ValidKey(key string) error {
	if key == "" {
		return errors.New("parley: invalid metadata key: empty")
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '_' || c == '-' || c == '.' {
			continue
		}
		hint := ""
		if c >= 'A' && c <= 'Z' {
			hint = " (keys must be lower case)"
		}
		char := fmt.Sprintf("%q", rune(c))
		if c >= 0x80 {
			char = fmt.Sprintf("byte 0x%02x", c)
		}
		return fmt.Errorf("parley: invalid metadata key %q: character %s at index %d is not allowed; keys are [0-9a-z_.-]+%s", key, char, i, hint)
	}
	return nil
}

// IsReservedKey reports whether key is owned by the gRPC protocol or by
// HTTP rather than by the application, so it can be neither sent as custom
// metadata ([EncodeHeader] rejects it) nor received as such ([DecodeHeader]
// skips it). The reserved keys are:
//
//   - keys starting with "grpc-": "Header names starting with "grpc-" but
//     not listed here are reserved for future GRPC use and should not be
//     used by applications as Custom-Metadata" (PROTOCOL-HTTP2.md). The one
//     exception is "grpc-status-details-bin" ([HeaderStatusDetails]): it
//     carries application data (a serialized google.rpc.Status with error
//     details) and grpc-go passes it through, so parley treats it as
//     ordinary binary metadata in both directions;
//   - pseudo-headers, starting with ":" (":path", ":authority", ...);
//   - the headers the gRPC runtime sets: content-type and te;
//   - HTTP connection-level and framing headers, which HTTP/2 forbids or
//     which would confuse the HTTP layer: connection, keep-alive,
//     proxy-connection, transfer-encoding, upgrade, host, content-length.
//
// "user-agent" is NOT reserved: like grpc-go's server, parley hands the
// received user-agent to the application as metadata. A client runtime that
// sends its own user-agent ([UserAgent]) should combine it with, or drop,
// any user-agent in the application's metadata rather than send two.
//
// key must already be lower case.
func IsReservedKey(key string) bool {
	if key == "" {
		return false
	}
	if key[0] == ':' {
		return true
	}
	if strings.HasPrefix(key, "grpc-") {
		return key != HeaderStatusDetails
	}
	switch key {
	case HeaderContentType, HeaderTE,
		"connection", "keep-alive", "proxy-connection", "transfer-encoding",
		"upgrade", "host", "content-length":
		return true
	}
	return false
}

// IsBinaryKey reports whether key names binary metadata, that is, ends in
// "-bin": "Applications define binary headers by having their names end with
// "-bin". Runtime libraries use this suffix to detect binary headers and
// properly apply base64 encoding & decoding as headers are sent and
// received."
func IsBinaryKey(key string) bool {
	return strings.HasSuffix(key, "-bin")
}

// ValidValue reports whether v may be sent as the value of a non-binary
// metadata key: "ASCII-Value → 1*( %x20-%x7E ) ; space and printable
// ASCII". The empty string is accepted, as grpc-go and HTTP/2 accept it.
// Values of binary keys can hold any bytes and are not checked.
func ValidValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7E {
			return false
		}
	}
	return true
}

// EncodeBinary encodes the value of a binary metadata key for the wire:
// standard base64 (RFC 4648 section 4) without padding, as the spec asks:
// "Implementations MUST accept padded and un-padded values and should emit
// un-padded values."
func EncodeBinary(b []byte) string {
	return base64.RawStdEncoding.EncodeToString(b)
}

// DecodeBinary decodes one base64 value of a binary metadata key, padded or
// unpadded (see [EncodeBinary]). Like grpc-go, a value whose length is a
// multiple of four is decoded as padded base64, any other as unpadded.
// It does not split comma-joined values; [DecodeHeader] does.
func DecodeBinary(s string) ([]byte, error) {
	if len(s)%4 == 0 {
		return base64.StdEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// EncodeHeader turns custom metadata into the HTTP/2 header fields to send,
// calling emit once per field, in no particular order across keys and in
// order within a key ("Custom-Metadata header order is not guaranteed to be
// preserved except for values with duplicate header names"). Values of
// binary keys are base64-encoded with [EncodeBinary].
//
// It checks everything before emitting anything, and returns an error
// without calling emit when a key is not valid ([ValidKey]) or reserved
// ([IsReservedKey]), or when a value of a non-binary key is not printable
// ASCII ([ValidValue]). emit must not retain or modify md.
func EncodeHeader(md Metadata, emit func(key, value string)) error {
	for k, vs := range md {
		if err := ValidKey(k); err != nil {
			return err
		}
		if IsReservedKey(k) {
			return fmt.Errorf("parley: metadata key %q is reserved for the gRPC protocol and cannot be sent as custom metadata", k)
		}
		if IsBinaryKey(k) {
			continue
		}
		for _, v := range vs {
			if !ValidValue(v) {
				return fmt.Errorf("parley: invalid value %q for metadata key %q: values of non-binary keys must be printable ASCII (0x20-0x7E); use a key ending in \"-bin\" for binary data", v, k)
			}
		}
	}
	for k, vs := range md {
		bin := IsBinaryKey(k)
		for _, v := range vs {
			if bin {
				v = base64.RawStdEncoding.EncodeToString([]byte(v))
			}
			emit(k, v)
		}
	}
	return nil
}

// DecodeHeader adds one received HTTP/2 header field to md, which must be
// non-nil. It is the receive side of [EncodeHeader], for request headers,
// response headers and trailers alike.
//
//   - The key is lower-cased (HTTP/2 already requires lower case).
//   - Pseudo-headers and reserved keys ([IsReservedKey]) are skipped
//     silently: the runtime reads those fields itself.
//   - For a binary key the value is split on ",", each part trimmed of
//     spaces and tabs and base64-decoded, padded or not ([DecodeBinary]):
//     "Duplicate header names may have their values joined with "," as the
//     delimiter ... Implementations must split Binary-Headers on "," before
//     decoding the Base64-encoded values." An undecodable part is an error
//     (grpc-go fails the call with INTERNAL) and md is left unchanged.
//   - Any other value is added as received, without validation: the spec
//     says "Implementations must not error due to receiving an invalid
//     ASCII-Value that's a valid field-value in HTTP", and grpc-go keeps
//     such values.
func DecodeHeader(md Metadata, key, value string) error {
	var buf [8]string
	pairs, err := AppendDecodedHeader(buf[:0], key, value)
	if err != nil {
		return err
	}
	for i := 0; i < len(pairs); i += 2 {
		md[pairs[i]] = append(md[pairs[i]], pairs[i+1])
	}
	return nil
}

// AppendDecodedHeader is [DecodeHeader] for a caller that keeps metadata
// as a flat list: it appends the field's key and each of its values to
// pairs, as key, value, key, value, and returns the extended list. It
// appends nothing for a field that is not metadata, and on error returns
// pairs unchanged.
func AppendDecodedHeader(pairs []string, key, value string) ([]string, error) {
	key = lower(key)
	if key == "" || IsReservedKey(key) {
		return pairs, nil
	}
	if !IsBinaryKey(key) {
		return append(pairs, key, value), nil
	}
	n := len(pairs)
	for part := range strings.SplitSeq(value, ",") {
		b, err := DecodeBinary(strings.Trim(part, " \t"))
		if err != nil {
			return pairs[:n], fmt.Errorf("parley: malformed binary metadata %q: %w", key, err)
		}
		pairs = append(pairs, key, string(b))
	}
	return pairs, nil
}
