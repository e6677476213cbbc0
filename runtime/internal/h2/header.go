package h2

import (
	"net/textproto"
	"strconv"
	"strings"

	"golang.org/x/net/http2/hpack"

	"github.com/parleyrpc/parley/runtime/internal/transport"
)

// canonCache converts received field names to the canonical keys the seam's
// Header uses. It is owned by one connection's reader goroutine and holds at
// most maxCanonCache names besides the common ones; the zero value is empty
// and allocates with the first uncommon name.
type canonCache map[string]string

const maxCanonCache = 256

func (c *canonCache) key(name string) string {
	if k, ok := transport.CommonCanonical(name); ok {
		return k
	}
	if k, ok := (*c)[name]; ok {
		return k
	}
	k := textproto.CanonicalMIMEHeaderKey(name)
	if *c == nil {
		*c = canonCache{}
	}
	if len(*c) < maxCanonCache {
		(*c)[name] = k
	}
	return k
}

// header converts received fields to a Header with canonical keys. The
// values share one backing array: two allocations for the whole map.
func (c *canonCache) header(fs []hpack.HeaderField) transport.Header {
	h := make(transport.Header, len(fs))
	vals := make([]string, len(fs))
	for i, f := range fs {
		k := c.key(f.Name)
		if old, ok := h[k]; ok {
			h[k] = append(old, f.Value)
			continue
		}
		vals[i] = f.Value
		h[k] = vals[i : i+1 : i+1]
	}
	return h
}

// headerMemo keeps the Header made for the last header block of one kind
// (a response's headers, or its trailers), to give it again for a block
// with the same fields: a server answers every call with the same few
// (content type, encodings; grpc-status 0), and a Header is two
// allocations or more. The Headers it gives are shared, so read only
// (transport.Response). Owned by a connection's reader goroutine.
type headerMemo struct {
	fields []hpack.HeaderField
	h      transport.Header
}

// Blocks that large are not kept: they are not the common ones.
const (
	maxMemoFields = 4
	maxMemoBytes  = 256
)

// header returns the Header of fs, a block's regular fields, through c.
func (m *headerMemo) header(c *canonCache, fs []hpack.HeaderField) transport.Header {
	if m.h != nil && sameFields(m.fields, fs) {
		return m.h
	}
	h := c.header(fs)
	if len(fs) <= maxMemoFields && headerListSize(fs) <= maxMemoBytes {
		m.fields = append(m.fields[:0], fs...)
		m.h = h
	}
	return h
}

func sameFields(a, b []hpack.HeaderField) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}

// wireName returns the HTTP/2 (lower-case) form of a header key.
func wireName(k string) string {
	if l, ok := transport.CommonWire(k); ok {
		return l
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(k)
		}
	}
	return k
}

// isConnectionHeader reports whether name is a connection-specific field,
// forbidden in HTTP/2 (RFC 9113, 8.2.2).
func isConnectionHeader(name string) bool {
	switch name {
	case "connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade":
		return true
	}
	return false
}

// appendFields appends the fields of h to fs in wire form. With trailers
// it takes only the keys marked with transport.TrailerPrefix (stripping the
// mark), otherwise only the unmarked ones.
func appendFields(fs []hpack.HeaderField, h transport.Header, trailers bool) []hpack.HeaderField {
	for k, vs := range h {
		marked := strings.HasPrefix(k, transport.TrailerPrefix)
		if marked != trailers {
			continue
		}
		if marked {
			k = textproto.CanonicalMIMEHeaderKey(k[len(transport.TrailerPrefix):])
		}
		name := wireName(k)
		if isConnectionHeader(name) {
			continue
		}
		for _, v := range vs {
			fs = append(fs, hpack.HeaderField{Name: name, Value: v})
		}
	}
	return fs
}

// hasTrailers reports whether h holds a key marked as a trailer.
func hasTrailers(h transport.Header) bool {
	for k := range h {
		if strings.HasPrefix(k, transport.TrailerPrefix) {
			return true
		}
	}
	return false
}

// statusText returns the :status value for code.
func statusText(code int) string {
	switch code {
	case 200:
		return "200"
	case 400:
		return "400"
	case 404:
		return "404"
	case 405:
		return "405"
	case 415:
		return "415"
	case 431:
		return "431"
	}
	return strconv.Itoa(code)
}

// headerListSize is the size of fs as SETTINGS_MAX_HEADER_LIST_SIZE counts
// it (RFC 9113, 6.5.2): each field's name and value plus 32.
func headerListSize(fs []hpack.HeaderField) uint32 {
	var n uint32
	for _, f := range fs {
		n += f.Size()
	}
	return n
}
