package h2

import "golang.org/x/net/http2/hpack"

// hpackTableSize is the dynamic table size both ends assume before any
// SETTINGS_HEADER_TABLE_SIZE (RFC 7541 4.2, RFC 9113 6.5.2). It is also
// the most the encoder uses: a bigger table would cost memory on every
// connection for little gain on the short header lists RPCs send.
const hpackTableSize = 4096

// hpackEntryOverhead is what RFC 7541 4.1 adds to an entry's name and
// value lengths to get its size.
const hpackEntryOverhead = 32

// hpackEntry is one header field of a table.
type hpackEntry struct{ name, value string }

// size returns the size of e as RFC 7541 4.1 counts it.
func (e *hpackEntry) size() uint32 {
	return uint32(len(e.name) + len(e.value) + hpackEntryOverhead)
}

// hpackStatic is the static table of RFC 7541 Appendix A: HPACK index i
// is hpackStatic[i-1].
var hpackStatic = [...]hpackEntry{
	{":authority", ""}, {":method", "GET"}, {":method", "POST"}, {":path", "/"},
	{":path", "/index.html"}, {":scheme", "http"}, {":scheme", "https"},
	{":status", "200"}, {":status", "204"}, {":status", "206"}, {":status", "304"},
	{":status", "400"}, {":status", "404"}, {":status", "500"}, {"accept-charset", ""},
	{"accept-encoding", "gzip, deflate"}, {"accept-language", ""}, {"accept-ranges", ""},
	{"accept", ""}, {"access-control-allow-origin", ""}, {"age", ""}, {"allow", ""},
	{"authorization", ""}, {"cache-control", ""}, {"content-disposition", ""},
	{"content-encoding", ""}, {"content-language", ""}, {"content-length", ""},
	{"content-location", ""}, {"content-range", ""}, {"content-type", ""}, {"cookie", ""},
	{"date", ""}, {"etag", ""}, {"expect", ""}, {"expires", ""}, {"from", ""}, {"host", ""},
	{"if-match", ""}, {"if-modified-since", ""}, {"if-none-match", ""}, {"if-range", ""},
	{"if-unmodified-since", ""}, {"last-modified", ""}, {"link", ""}, {"location", ""},
	{"max-forwards", ""}, {"proxy-authenticate", ""}, {"proxy-authorization", ""},
	{"range", ""}, {"referer", ""}, {"refresh", ""}, {"retry-after", ""}, {"server", ""},
	{"set-cookie", ""}, {"strict-transport-security", ""}, {"transfer-encoding", ""},
	{"user-agent", ""}, {"vary", ""}, {"via", ""}, {"www-authenticate", ""},
}

// hpackStaticPair and hpackStaticName map a name/value pair and a name to
// the lowest static index holding them; the lowest never encodes longer.
// They are shared by all encoders, so searching costs no per-connection
// memory.
var hpackStaticPair, hpackStaticName = func() (map[hpackEntry]uint64, map[string]uint64) {
	pair := make(map[hpackEntry]uint64, len(hpackStatic))
	name := make(map[string]uint64, len(hpackStatic))
	for i := len(hpackStatic) - 1; i >= 0; i-- {
		pair[hpackStatic[i]] = uint64(i + 1)
		name[hpackStatic[i].name] = uint64(i + 1)
	}
	return pair, name
}()

// headerEncoder is an HPACK encoder (RFC 7541) for the header blocks of
// one connection. Unlike hpack.Encoder it keeps no search maps: its
// dynamic table is a ring of entries searched linearly, which is cheap
// because a 4096-byte table holds few entries, and keeps an idle
// connection's state to the entries themselves. The zero value is ready
// to use with the default table size of 4096 bytes.
//
// Like hpack.Encoder, the table keeps the strings of the fields it
// indexes rather than copies, so they stay live until evicted, and must
// not alias bytes the caller later reuses (as unsafe.String would).
type headerEncoder struct {
	ents    []hpackEntry // ring of n entries, oldest at ents[head]
	head, n int
	used    uint32 // sum of the entries' sizes
	size    uint32 // table size for the next block
	limit   uint32 // min(hpackTableSize, peer's SETTINGS_HEADER_TABLE_SIZE)
	init    bool   // size and limit are set; until then both are hpackTableSize
	lowered bool   // size went down since the last block and must be signaled
}

// ready gives a zero encoder its default sizes.
func (e *headerEncoder) ready() {
	if !e.init {
		e.init, e.size, e.limit = true, hpackTableSize, hpackTableSize
	}
}

// setMaxTableSizeLimit applies the peer's SETTINGS_HEADER_TABLE_SIZE.
// A lower limit takes effect at once, since the peer may shrink its table
// as soon as it sees our SETTINGS ack; a higher one at the next block.
func (e *headerEncoder) setMaxTableSizeLimit(v uint32) {
	e.ready()
	e.limit = min(v, hpackTableSize)
	if e.limit >= e.size {
		return
	}
	e.size, e.lowered = e.limit, true
	e.evict(0)
	if e.n == 0 {
		e.ents, e.head = nil, 0 // a shrunken table may stay small for long
	}
}

// appendBlock appends to dst the header block fragment encoding fields,
// in order, and returns it. A pending dynamic table size update
// (setMaxTableSizeLimit lowered the limit) is emitted first, as RFC 7541
// 4.2/6.3 requires.
func (e *headerEncoder) appendBlock(dst []byte, fields []hpack.HeaderField) []byte {
	e.ready()
	switch {
	case e.lowered:
		// size is the smallest the table got since the last block. If the
		// limit went back up since, RFC 7541 4.2 would have this block carry
		// a second update with the final size, but x/net's Decoder (used by
		// net/http and grpc-go) rejects a second update while its table
		// still holds entries. So the table stays small for this block and
		// grows in the next one, which is as valid: the encoder may use any
		// size up to the limit.
		e.lowered = false
		dst = appendHpackInt(dst, 0x20, 5, uint64(e.size))
	case e.size < e.limit:
		e.size = e.limit
		dst = appendHpackInt(dst, 0x20, 5, uint64(e.size))
	}
	for _, f := range fields {
		dst = e.appendField(dst, f)
	}
	return dst
}

// appendField appends the representation of f (RFC 7541 6.1, 6.2) and
// adds f to the dynamic table if that representation says so.
func (e *headerEncoder) appendField(dst []byte, f hpack.HeaderField) []byte {
	if !f.Sensitive {
		if i := hpackStaticPair[hpackEntry{f.Name, f.Value}]; i != 0 {
			return appendHpackInt(dst, 0x80, 7, i)
		}
	}
	nameIdx := hpackStaticName[f.Name]
	if !f.Sensitive || nameIdx == 0 {
		j := e.head + e.n // one past the newest entry
		if j > len(e.ents) {
			j -= len(e.ents)
		}
		for i := range e.n {
			if j--; j < 0 {
				j += len(e.ents)
			}
			ent := &e.ents[j]
			if ent.name != f.Name {
				continue
			}
			idx := uint64(len(hpackStatic) + 1 + i) // the newest entry is 62
			if ent.value == f.Value && !f.Sensitive {
				return appendHpackInt(dst, 0x80, 7, idx)
			}
			if nameIdx == 0 {
				nameIdx = idx
			}
		}
	}
	// nameIdx refers to the table before f is added, as the decoder reads
	// the name before adding the entry.
	size := uint64(len(f.Name)) + uint64(len(f.Value)) + hpackEntryOverhead
	switch {
	case f.Sensitive: // never indexed, here or by intermediaries (RFC 7541 7.1.3)
		dst = appendHpackInt(dst, 0x10, 4, nameIdx)
	case perCall(f.Name):
		// Its value is seldom seen twice: indexing it would only evict
		// the entries the next blocks reuse (path, content type).
		dst = appendHpackInt(dst, 0, 4, nameIdx)
	case size <= uint64(e.size):
		e.add(f.Name, f.Value, uint32(size))
		dst = appendHpackInt(dst, 0x40, 6, nameIdx)
	default: // adding it would only empty the table (RFC 7541 4.4)
		dst = appendHpackInt(dst, 0, 4, nameIdx)
	}
	if nameIdx == 0 {
		dst = appendHpackString(dst, f.Name)
	}
	return appendHpackString(dst, f.Value)
}

// perCall reports whether a field's value is most likely different in
// every block: a call's remaining time (grpc-timeout, which shrinks with
// each retry and differs between calls) and an error's text and details.
// Such fields are sent as literals without indexing (RFC 7541 6.2.2).
func perCall(name string) bool {
	switch name {
	case "grpc-timeout", "grpc-message", "grpc-status-details-bin":
		return true
	}
	return false
}

// add makes name/value, of the given size, the newest table entry.
func (e *headerEncoder) add(name, value string, size uint32) {
	e.evict(size)
	if e.n == len(e.ents) {
		// Grow by doubling, so the ring stops growing once it holds as
		// many entries as the table size allows.
		ents := make([]hpackEntry, max(4, 2*len(e.ents)))
		k := copy(ents, e.ents[e.head:])
		copy(ents[k:], e.ents[:e.head])
		e.ents, e.head = ents, 0
	}
	j := e.head + e.n
	if j >= len(e.ents) {
		j -= len(e.ents)
	}
	e.ents[j] = hpackEntry{name, value}
	e.n++
	e.used += size
}

// evict drops the oldest entries until room more bytes fit in the table.
func (e *headerEncoder) evict(room uint32) {
	for e.n > 0 && e.used+room > e.size {
		ent := &e.ents[e.head]
		e.used -= ent.size()
		*ent = hpackEntry{} // let the strings be collected
		if e.head++; e.head == len(e.ents) {
			e.head = 0
		}
		e.n--
	}
}

// appendHpackInt appends v as an integer with an n-bit prefix (RFC 7541
// 5.1), the first byte's other bits set from first.
func appendHpackInt(dst []byte, first byte, n uint8, v uint64) []byte {
	k := uint64(1)<<n - 1
	if v < k {
		return append(dst, first|byte(v))
	}
	dst = append(dst, first|byte(k))
	for v -= k; v >= 0x80; v >>= 7 {
		dst = append(dst, 0x80|byte(v))
	}
	return append(dst, byte(v))
}

// appendHpackString appends s as a string literal (RFC 7541 5.2),
// Huffman-coded only when that is shorter.
func appendHpackString(dst []byte, s string) []byte {
	if n := hpack.HuffmanEncodeLength(s); n < uint64(len(s)) {
		dst = appendHpackInt(dst, 0x80, 7, n)
		return hpack.AppendHuffmanString(dst, s)
	}
	dst = appendHpackInt(dst, 0, 7, uint64(len(s)))
	return append(dst, s...)
}
