package transport

import "net/textproto"

// Header is a set of HTTP/2 header fields. Keys received from a peer are in
// canonical MIME form ("Grpc-Status"); use Get and Values, which
// canonicalize, rather than indexing the map with a lower-case key. Keys
// set for sending may be in any case: HTTP/2 sends them lower-cased.
type Header map[string][]string

// Get returns the first value of key, or "".
func (h Header) Get(key string) string {
	if v := h[textproto.CanonicalMIMEHeaderKey(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns every value of key.
func (h Header) Values(key string) []string {
	return h[textproto.CanonicalMIMEHeaderKey(key)]
}

// Set replaces the values of key with value.
func (h Header) Set(key, value string) {
	h[textproto.CanonicalMIMEHeaderKey(key)] = []string{value}
}

// Add appends value to the values of key.
func (h Header) Add(key, value string) {
	k := textproto.CanonicalMIMEHeaderKey(key)
	h[k] = append(h[k], value)
}
