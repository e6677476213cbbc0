package h2

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// hpackPeer decodes what a headerEncoder sends, as the peer would, and
// checks each block against the fields encoded and the table size updates
// the limit changes call for.
type hpackPeer struct {
	t        testing.TB
	e        headerEncoder
	d        *hpack.Decoder
	buf      []byte
	known    uint32 // table size the decoder has, from the updates it got
	minLimit uint32 // lowest limit set since the last block
	limit    uint32 // min(hpackTableSize, last limit set)
	total    int    // bytes encoded
}

// newHPACKPeer returns a fresh encoder and decoder pair.
func newHPACKPeer(t testing.TB) *hpackPeer {
	return &hpackPeer{t: t, d: hpack.NewDecoder(hpackTableSize, nil),
		known: hpackTableSize, minLimit: hpackTableSize, limit: hpackTableSize}
}

// setLimit changes SETTINGS_HEADER_TABLE_SIZE on both ends.
func (p *hpackPeer) setLimit(v uint32) {
	p.e.setMaxTableSizeLimit(v)
	p.d.SetAllowedMaxDynamicTableSize(v)
	p.limit = min(v, hpackTableSize)
	p.minLimit = min(p.minLimit, p.limit)
}

// block encodes fs as one block, decodes it, and returns the table size
// updates it began with.
func (p *hpackPeer) block(fs []hpack.HeaderField) []uint32 {
	p.t.Helper()
	p.buf = p.e.appendBlock(p.buf[:0], fs)
	p.total += len(p.buf)
	ups := leadingSizeUpdates(p.buf)
	got, err := p.d.DecodeFull(p.buf)
	if err != nil {
		p.t.Fatalf("decode %x (fields %q): %v", p.buf, fs, err)
	}
	if len(got) != len(fs) || (len(fs) > 0 && !slices.Equal(got, fs)) {
		p.t.Fatalf("decoded %q, want %q", got, fs)
	}
	if p.minLimit < p.known && (len(ups) == 0 || ups[0] > p.minLimit) {
		p.t.Fatalf("limit lowered to %d from %d, block starts with updates %v", p.minLimit, p.known, ups)
	}
	for _, u := range ups {
		if u > p.limit {
			p.t.Fatalf("update to %d above limit %d", u, p.limit)
		}
		p.known = u
	}
	if p.e.size != p.known || p.e.used > p.e.size {
		p.t.Fatalf("encoder size %d used %d, decoder size %d", p.e.size, p.e.used, p.known)
	}
	p.minLimit = p.limit
	return ups
}

// leadingSizeUpdates parses the dynamic table size updates at the start
// of block b (RFC 7541 6.3).
func leadingSizeUpdates(b []byte) []uint32 {
	var ups []uint32
	for len(b) > 0 && b[0]&0xe0 == 0x20 {
		v, n := uint64(b[0]&0x1f), 1
		if v == 0x1f {
			for shift := 0; n < len(b); shift += 7 {
				c := b[n]
				n++
				v += uint64(c&0x7f) << shift
				if c&0x80 == 0 {
					break
				}
			}
		}
		ups = append(ups, uint32(v))
		b = b[n:]
	}
	return ups
}

// hpackPool returns the names and, per name, the values random header
// lists are drawn from, so that fields repeat as in real traffic.
func hpackPool() ([]string, map[string][]string) {
	long := func(c byte, n int) string {
		return strings.Repeat(string(c), n/2) + fmt.Sprint(n) + strings.Repeat("x", n/2)
	}
	vals := map[string][]string{
		":status":         {"200", "204", "404", "500", "503"},
		":path":           {"/", "/pkg.Svc/Method", "/pkg.Svc/Other"},
		"content-type":    {"application/grpc", "application/grpc+msgpack", "text/plain"},
		"grpc-status":     {"0", "1", "5", "13", "14"},
		"grpc-message":    {"", "not found", "deadline exceeded", long('m', 300)},
		"grpc-encoding":   {"gzip", "identity"},
		"user-agent":      {"parley-go/1.0", "grpc-go/1.70.0"},
		"authorization":   {"Bearer abc", "Bearer def"},
		"x-request-id":    {"1", "22", "333", "4444", "55555", "666666", "7777777"},
		"x-trace":         {long('t', 100), long('u', 1500), long('v', 3000)},
		"x-huge":          {long('h', 5000)},
		"accept-encoding": {"gzip, deflate", "br"},
		"date":            {"Mon, 01 Jan 2024 00:00:00 GMT", "Tue, 02 Jan 2024 00:00:00 GMT"},
	}
	for i := range 8 {
		vals[fmt.Sprintf("x-custom-%d", i)] = []string{"a", "bb", fmt.Sprint(i * 1000)}
	}
	names := make([]string, 0, len(vals))
	for n := range vals {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, vals
}

// randomFields returns a random header list from the pool.
func randomFields(r *rand.Rand, names []string, vals map[string][]string) []hpack.HeaderField {
	fs := make([]hpack.HeaderField, 1+r.IntN(10))
	for i := range fs {
		n := names[r.IntN(len(names))]
		vs := vals[n]
		fs[i] = hpack.HeaderField{Name: n, Value: vs[r.IntN(len(vs))],
			Sensitive: n == "authorization" || r.IntN(20) == 0}
	}
	return fs
}

func TestHeaderEncoderRoundTrip(t *testing.T) {
	names, vals := hpackPool()
	r := rand.New(rand.NewPCG(1, 2))
	p := newHPACKPeer(t)
	var xbuf bytes.Buffer
	x := hpack.NewEncoder(&xbuf)
	for range 3000 {
		fs := randomFields(r, names, vals)
		p.block(fs)
		for _, f := range fs {
			if err := x.WriteField(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("encoded bytes: ours %d, x/net %d", p.total, xbuf.Len())
	if p.total > xbuf.Len()*102/100 {
		t.Errorf("ours %d bytes, more than 2%% above x/net's %d", p.total, xbuf.Len())
	}
}

func TestHeaderEncoderTableSize(t *testing.T) {
	fs := []hpack.HeaderField{
		{Name: ":status", Value: "200"},
		{Name: "content-type", Value: "application/grpc+msgpack"},
		{Name: "grpc-status", Value: "0"},
		{Name: "x-a", Value: "1"},
	}
	p := newHPACKPeer(t)
	// Each step changes the limit by the given values, then sends two
	// blocks, which must begin with the given updates.
	steps := []struct {
		limits       []uint32
		first, after []uint32
	}{
		{nil, nil, nil},
		{[]uint32{8192}, nil, nil},      // above the default: no change
		{[]uint32{0}, []uint32{0}, nil}, // nothing indexed
		{[]uint32{100}, []uint32{100}, nil},
		{[]uint32{4096}, []uint32{4096}, nil},
		{[]uint32{100, 4096}, []uint32{100}, []uint32{4096}}, // entries survive at 100
		{[]uint32{2000, 50, 3000}, []uint32{50}, []uint32{3000}},
		{[]uint32{0, 4096}, []uint32{0}, []uint32{4096}},
		{[]uint32{1000, 2000}, []uint32{1000}, []uint32{2000}},
		{[]uint32{5000}, []uint32{4096}, nil},
		{[]uint32{4096, 4096}, nil, nil},
	}
	for _, s := range steps {
		for _, v := range s.limits {
			p.setLimit(v)
		}
		if ups := p.block(fs); !slices.Equal(ups, s.first) {
			t.Errorf("limits %v: first block updates %v, want %v", s.limits, ups, s.first)
		}
		if ups := p.block(fs); !slices.Equal(ups, s.after) {
			t.Errorf("limits %v: second block updates %v, want %v", s.limits, ups, s.after)
		}
		// With a table, the repeated list is all indexed: one byte a field.
		if s.limits == nil || p.e.size >= 200 {
			if p.block(fs); len(p.buf) != len(fs) {
				t.Errorf("limits %v: repeated block %d bytes, want %d", s.limits, len(p.buf), len(fs))
			}
		}
	}
	p.setLimit(0)
	p.block(fs)
	if p.e.n != 0 || p.e.used != 0 || p.e.ents != nil {
		t.Errorf("limit 0: %d entries, %d bytes, ring of %d", p.e.n, p.e.used, len(p.e.ents))
	}
}

func TestHeaderEncoderEviction(t *testing.T) {
	p := newHPACKPeer(t)
	const fill = 1000
	vals := make([]string, fill)
	for i := range vals {
		vals[i] = fmt.Sprintf("value-%04d", i)
	}
	entry := uint32(len("x-fill") + len(vals[0]) + hpackEntryOverhead)
	fits := int(hpackTableSize / entry)
	for _, v := range vals {
		p.block([]hpack.HeaderField{{Name: "x-fill", Value: v}})
		if p.e.used > p.e.size || p.e.used != uint32(p.e.n)*entry {
			t.Fatalf("%d entries, %d bytes used of %d", p.e.n, p.e.used, p.e.size)
		}
	}
	if p.e.n != fits || len(p.e.ents) > 2*fits {
		t.Fatalf("%d entries in a ring of %d, want %d", p.e.n, len(p.e.ents), fits)
	}
	// The newest entries are indexed: 62 in one byte, the rest in two.
	recent := make([]hpack.HeaderField, fits)
	for i := range recent {
		recent[i] = hpack.HeaderField{Name: "x-fill", Value: vals[fill-1-i]}
	}
	p.block(recent)
	want := fits + max(0, fits-(127-62)) // a second byte from index 127 on
	if len(p.buf) != want || p.buf[0] != 0x80|62 {
		t.Fatalf("recent entries take %d bytes starting %#x, want %d starting %#x", len(p.buf), p.buf[0], want, 0x80|62)
	}
	// The oldest value is long gone: sending it again evicts the next oldest.
	p.block([]hpack.HeaderField{{Name: "x-fill", Value: vals[0]}})
	if p.buf[0] != 0x40|62 || p.e.n != fits {
		t.Fatalf("evicted value sent as %#x, %d entries", p.buf[0], p.e.n)
	}

	// Entries bigger than the table are not indexed, and leave it alone.
	p = newHPACKPeer(t)
	p.block([]hpack.HeaderField{{Name: "x-a", Value: "1"}})
	for _, size := range []int{hpackTableSize + 1, 100000} {
		f := hpack.HeaderField{Name: "x-big", Value: strings.Repeat("z", size-len("x-big")-hpackEntryOverhead)}
		p.block([]hpack.HeaderField{f})
		if p.buf[0]&0xf0 != 0 || p.e.n != 1 {
			t.Fatalf("size %d: first byte %#x, %d entries", size, p.buf[0], p.e.n)
		}
	}
	// An entry the size of the table is indexed, and evicts all others.
	f := hpack.HeaderField{Name: "x-big", Value: strings.Repeat("z", hpackTableSize-len("x-big")-hpackEntryOverhead)}
	p.block([]hpack.HeaderField{f})
	if p.e.n != 1 || p.e.used != hpackTableSize {
		t.Fatalf("table-sized entry: %d entries, %d bytes", p.e.n, p.e.used)
	}
	p.setLimit(100)
	p.block(nil)
	at100 := func(n int) hpack.HeaderField {
		return hpack.HeaderField{Name: "x-c", Value: strings.Repeat("c", n-len("x-c")-hpackEntryOverhead)}
	}
	p.block([]hpack.HeaderField{at100(101)})
	if p.e.n != 0 {
		t.Fatalf("101-byte entry indexed in a 100-byte table")
	}
	p.block([]hpack.HeaderField{at100(100)})
	if p.e.n != 1 {
		t.Fatalf("100-byte entry not indexed in a 100-byte table")
	}
}

func TestHeaderEncoderSensitive(t *testing.T) {
	p := newHPACKPeer(t)
	fs := []hpack.HeaderField{
		{Name: "authorization", Value: "Bearer x", Sensitive: true},
		{Name: "x-secret", Value: "s", Sensitive: true},
		{Name: ":status", Value: "200", Sensitive: true}, // even a static pair
	}
	for range 3 {
		p.block(fs)
	}
	if p.e.n != 0 {
		t.Fatalf("sensitive fields indexed: %d entries", p.e.n)
	}
	// A sensitive field may reuse an indexed name, never the value.
	p.block([]hpack.HeaderField{{Name: "x-secret", Value: "t"}})
	p.block([]hpack.HeaderField{{Name: "x-secret", Value: "t", Sensitive: true}})
	if want := []byte{0x1f, 62 - 15, 1, 't'}; !bytes.Equal(p.buf, want) {
		t.Fatalf("got %x, want %x", p.buf, want)
	}
}

// TestHeaderEncoderPerCallFields: a call's timeout and an error's text
// go out as literals without indexing, so they do not evict the fields
// the next blocks repeat; the fields around them are indexed as usual.
func TestHeaderEncoderPerCallFields(t *testing.T) {
	p := newHPACKPeer(t)
	for i := range 50 {
		p.block([]hpack.HeaderField{
			{Name: ":path", Value: "/pkg.Svc/Method"},
			{Name: "grpc-timeout", Value: fmt.Sprintf("%dm", 1000-i)},
			{Name: "grpc-message", Value: fmt.Sprintf("call %d failed", i)},
			{Name: "grpc-status-details-bin", Value: fmt.Sprintf("details %d", i)},
		})
	}
	if p.e.n != 1 || p.e.ents[p.e.head].name != ":path" {
		t.Fatalf("table holds %d entries (%v), want only :path", p.e.n, p.e.ents)
	}
	// The last block: :path indexed (62), then each literal without
	// indexing with a new name (0x00).
	if p.buf[0] != 0x80|62 || p.buf[1] != 0 {
		t.Fatalf("block starts %x, want be 00", p.buf[:2])
	}
}

func TestHeaderEncoderAllocs(t *testing.T) {
	var e headerEncoder
	e.setMaxTableSizeLimit(300) // small, so the rotating values evict
	vals := make([]string, 16)
	for i := range vals {
		vals[i] = fmt.Sprintf("req-%d-%s", i, strings.Repeat("r", 40))
	}
	fs := []hpack.HeaderField{
		{Name: ":status", Value: "200"},
		{Name: "content-type", Value: "application/grpc+msgpack"},
		{Name: "x-request-id"},
		{Name: "authorization", Value: "Bearer z", Sensitive: true},
		{Name: "grpc-status", Value: "0"},
		{Name: "grpc-message", Value: "all good"},
	}
	buf := make([]byte, 0, 1024)
	i := 0
	run := func() {
		fs[2].Value = vals[i%len(vals)]
		i++
		buf = e.appendBlock(buf[:0], fs)
	}
	for range 100 {
		run()
	}
	if n := testing.AllocsPerRun(1000, run); n != 0 {
		t.Fatalf("%v allocs per block", n)
	}
}

func BenchmarkHeaderEncoder(b *testing.B) {
	fs := []hpack.HeaderField{
		{Name: ":status", Value: "200"},
		{Name: "content-type", Value: "application/grpc+msgpack"},
		{Name: "grpc-status", Value: "0"},
	}
	var e headerEncoder
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = e.appendBlock(buf[:0], fs)
	}
}

// FuzzHeaderEncoder drives an encoder with fields and limit changes read
// from the input, and checks every block round trips through
// hpack.Decoder. Each input byte is an op, by its top two bits:
//
//	00: field from the pool: name by the low bits, value by the next byte
//	01: field from the pool's name, value the next n bytes (n: next byte)
//	10: limit change to (low 6 bits << 8 | next byte)
//	11: end of block
//
// Bit 0x20 of a field op makes it sensitive.
func FuzzHeaderEncoder(f *testing.F) {
	f.Add([]byte{0x00, 0, 0x01, 1, 0xc0, 0x00, 0, 0x01, 1})
	f.Add([]byte{0x02, 3, 0x82, 0x00, 0xc0, 0x02, 3, 0x80, 100, 0x90, 0x00, 0x02, 3, 0xc0, 0x02, 3})
	f.Add([]byte{0x45, 5, 'h', 'e', 'l', 'l', 'o', 0x65, 3, 'a', 'b', 'c', 0xc0, 0x45, 5, 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{0x80, 0, 0xc0, 0x07, 2, 0xbf, 0xff, 0xc0, 0x07, 2, 0x81, 0x00, 0x8f, 0xff, 0xc0})
	names, vals := hpackPool()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := newHPACKPeer(t)
		var fs []hpack.HeaderField
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			c := data[0]
			data = data[1:]
			return c
		}
		for len(data) > 0 {
			op := next()
			switch op >> 6 {
			case 0, 1:
				name := names[int(op&0x1f)%len(names)]
				var v string
				if op>>6 == 0 {
					vs := vals[name]
					v = vs[int(next())%len(vs)]
				} else {
					n := min(int(next()), len(data))
					v = string(data[:n])
					data = data[n:]
				}
				fs = append(fs, hpack.HeaderField{Name: name, Value: v, Sensitive: op&0x20 != 0})
			case 2:
				p.setLimit(uint32(op&0x3f)<<8 | uint32(next()))
			case 3:
				p.block(fs)
				fs = nil
			}
		}
		p.block(fs)
	})
}
