package transport

import (
	"net/textproto"
	"strings"
)

// Header is a set of HTTP/2 header fields. Keys received from a peer are in
// canonical MIME form ("Grpc-Status"); use Get and Values, which
// canonicalize, rather than indexing the map with a lower-case key. Keys
// set for sending may be in any case: HTTP/2 sends them lower-cased.
type Header map[string][]string

// Get returns the first value of key, or "".
func (h Header) Get(key string) string {
	if v := h[CanonicalKey(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns every value of key.
func (h Header) Values(key string) []string {
	return h[CanonicalKey(key)]
}

// Set replaces the values of key with value.
func (h Header) Set(key, value string) {
	h[CanonicalKey(key)] = []string{value}
}

// Add appends value to the values of key.
func (h Header) Add(key, value string) {
	k := CanonicalKey(key)
	h[k] = append(h[k], value)
}

// commonNames are the header field names gRPC uses on (nearly) every call,
// in canonical form. Their canonical and wire (lower-case) forms are
// precomputed, so that converting between them allocates nothing.
var commonNames = []string{
	"Content-Type", "Te", "User-Agent", "Grpc-Timeout", "Grpc-Encoding",
	"Grpc-Accept-Encoding", "Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin",
	"Grpc-Message-Type", "Content-Length", "Accept-Encoding", "Date", "Trailer",
	"Authorization", "Grpc-Previous-Rpc-Attempts", "Grpc-Retry-Pushback-Ms",
}

var (
	// toCanonical maps the common names' wire forms to their canonical
	// keys, and toWire back; both are read-only after init.
	toCanonical = map[string]string{}
	toWire      = map[string]string{}
)

func init() {
	for _, k := range commonNames {
		l := strings.ToLower(k)
		toCanonical[l] = k
		toWire[k] = l
	}
}

// CommonCanonical returns the canonical key of a common header name given
// in its wire (lower-case) form, and false for other names.
func CommonCanonical(wireName string) (string, bool) {
	k, ok := toCanonical[wireName]
	return k, ok
}

// CommonWire returns the wire (lower-case) form of a common header key
// given in canonical form, and false for other keys.
func CommonWire(key string) (string, bool) {
	l, ok := toWire[key]
	return l, ok
}

// CanonicalKey returns key in canonical MIME form ("Grpc-Status"), without
// allocating for the header names gRPC uses.
func CanonicalKey(key string) string {
	if c, ok := toCanonical[key]; ok {
		return c
	}
	return textproto.CanonicalMIMEHeaderKey(key)
}
