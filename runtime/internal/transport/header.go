package transport

import "net/textproto"

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

// canonical holds the canonical form of the header names gRPC uses, so
// that looking them up by their lower-case names allocates nothing.
var canonical = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"content-type", "te", "user-agent", "grpc-timeout", "grpc-encoding",
		"grpc-accept-encoding", "grpc-status", "grpc-message",
		"grpc-status-details-bin", "grpc-message-type", "content-length",
		"date", "authorization", "trailer",
	} {
		m[k] = textproto.CanonicalMIMEHeaderKey(k)
	}
	return m
}()

// CanonicalKey returns key in canonical MIME form ("Grpc-Status"), without
// allocating for the header names gRPC uses.
func CanonicalKey(key string) string {
	if c, ok := canonical[key]; ok {
		return c
	}
	return textproto.CanonicalMIMEHeaderKey(key)
}
