package h2

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// blockListSize is the header list limit of the header block tests: small,
// so that a few fields reach it.
const blockListSize = 512

// FuzzHeaderBlocks reads the frames of the fuzz input twice: with x/net's
// Framer decoding header blocks itself (ReadMetaHeaders), and with a plain
// Framer and headerBlocks. Frame by frame, both must give the same
// outcome: the same frame (for a header block, its stream, flags, fields
// and truncation) or the same error (a stream error's stream and code, a
// connection error's code). The seeds (headerBlockSeeds) run as part of go
// test; `make fuzz` explores.
func FuzzHeaderBlocks(f *testing.F) {
	for _, s := range headerBlockSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		want := http2.NewFramer(nil, bytes.NewReader(data))
		want.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		want.MaxHeaderListSize = blockListSize
		got := http2.NewFramer(nil, bytes.NewReader(data))
		got.MaxHeaderListSize = blockListSize
		var blocks headerBlocks
		blocks.init(hpack.NewDecoder(4096, nil))
		for i := 0; ; i++ {
			wf, werr := want.ReadFrame()
			gf, gerr := got.ReadFrame()
			if hf, ok := gf.(*http2.HeadersFrame); ok && gerr == nil {
				gf, gerr = blocks.read(got, hf)
			}
			w, g := frameOutcome(wf, werr), frameOutcome(gf, gerr)
			if w != g {
				t.Fatalf("frame %d: x/net read\n\t%s\nheaderBlocks read\n\t%s", i, w, g)
			}
			var se http2.StreamError
			if werr != nil && !errors.As(werr, &se) {
				return
			}
		}
	})
}

// frameOutcome describes what a read gave, for FuzzHeaderBlocks.
func frameOutcome(f http2.Frame, err error) string {
	var (
		se http2.StreamError
		ce http2.ConnectionError
	)
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("stream error: stream %d, %v", se.StreamID, se.Code)
	case errors.As(err, &ce):
		return fmt.Sprintf("connection error: %v", http2.ErrCode(ce))
	case err != nil:
		return "error: " + err.Error()
	}
	if mh, ok := f.(*http2.MetaHeadersFrame); ok {
		return fmt.Sprintf("header block: stream %d, flags %v, truncated %v, fields %v",
			mh.StreamID, mh.Flags, mh.Truncated, mh.Fields)
	}
	return fmt.Sprintf("%T: stream %d, flags %v", f, f.Header().StreamID, f.Header().Flags)
}

// headerBlockSeeds are frame sequences for FuzzHeaderBlocks: well-formed
// blocks, whole and in fragments, and each way a block can be malformed
// or too large.
func headerBlockSeeds(tb testing.TB) [][]byte {
	req := []hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
		{Name: ":path", Value: "/chat.Chat/Converse"}, {Name: ":authority", Value: "127.0.0.1"},
		{Name: "content-type", Value: "application/grpc+msgpack"}, {Name: "te", Value: "trailers"},
		{Name: "grpc-timeout", Value: "99m"},
	}
	with := func(extra ...hpack.HeaderField) []hpack.HeaderField {
		return append(append([]hpack.HeaderField(nil), req...), extra...)
	}
	var seeds [][]byte
	add := func(build func(w *blockWriter)) {
		w := newBlockWriter()
		build(w)
		seeds = append(seeds, w.buf.Bytes())
	}
	add(func(w *blockWriter) { w.headers(1, true, req) })
	add(func(w *blockWriter) { w.headers(1, false, req); w.headers(3, true, req); w.headers(1, true, nil) })
	add(func(w *blockWriter) { w.split(1, req, 3) })
	add(func(w *blockWriter) {
		w.headers(1, false, []hpack.HeaderField{{Name: ":status", Value: "200"}, {Name: "content-type", Value: "application/grpc"}})
		w.headers(1, true, []hpack.HeaderField{{Name: "grpc-status", Value: "0"}, {Name: "grpc-message", Value: "ok"}})
	})
	add(func(w *blockWriter) { w.headers(1, true, with(hpack.HeaderField{Name: "X-Upper", Value: "1"})) })
	add(func(w *blockWriter) { w.headers(1, true, with(hpack.HeaderField{Name: "bad name", Value: "1"})) })
	add(func(w *blockWriter) { w.headers(1, true, with(hpack.HeaderField{Name: "x-v", Value: "a\x00b"})) })
	add(func(w *blockWriter) {
		w.headers(1, true, append([]hpack.HeaderField{{Name: "x-first", Value: "1"}}, req...))
		w.headers(3, true, req) // the connection goes on after a stream error
	})
	add(func(w *blockWriter) { w.headers(1, true, with(hpack.HeaderField{Name: ":bogus", Value: "1"})) })
	add(func(w *blockWriter) {
		w.headers(1, true, append([]hpack.HeaderField{{Name: ":path", Value: "/a"}}, req...))
	})
	add(func(w *blockWriter) {
		w.headers(1, true, append([]hpack.HeaderField{{Name: ":status", Value: "200"}}, req...))
	})
	add(func(w *blockWriter) {
		w.headers(1, true, with(hpack.HeaderField{Name: "x-big", Value: strings.Repeat("v", 300)}))
		w.headers(3, true, req)
	})
	add(func(w *blockWriter) { // past the limit, then a fragment after it
		w.splitFields(1, append([]hpack.HeaderField{req[0], {Name: "x-big", Value: strings.Repeat("v", 300)}}, req[1:]...), 2)
	})
	add(func(w *blockWriter) { // a fragment over twice what is left
		huge := hpack.HeaderField{Name: "x-huge", Value: strings.Repeat("h", 450)}
		w.headers(1, true, []hpack.HeaderField{huge, huge, huge, huge, huge})
	})
	add(func(w *blockWriter) { // a malformed field, then a CONTINUATION
		w.splitFields(1, append([]hpack.HeaderField{{Name: "Bad", Value: "1"}}, req...), 1)
	})
	add(func(w *blockWriter) {
		w.headers(1, true, with(hpack.HeaderField{Name: "trailer", Value: "a, b, c, d, e, f, g, h"}))
	})
	add(func(w *blockWriter) {
		w.headers(1, true, with(hpack.HeaderField{Name: "trailer", Value: strings.Repeat("x,", 120)}))
	})
	add(func(w *blockWriter) { w.rawHeaders(1, true, []byte{0x80}) })             // index 0
	add(func(w *blockWriter) { w.rawHeaders(1, true, []byte{0xff, 0x80, 0x01}) }) // index out of range
	add(func(w *blockWriter) { w.rawHeaders(1, true, []byte{0x40, 0x05, 'a'}) })  // cut short
	add(func(w *blockWriter) { w.rawHeaders(1, true, []byte{0x3f, 0xe2, 0x1f}) }) // a table size update past 4096
	add(func(w *blockWriter) {                                                    // CONTINUATION on another stream
		block := w.encode(req)
		_ = w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:4], EndStream: true})
		_ = w.fr.WriteContinuation(3, true, block[4:])
	})
	add(func(w *blockWriter) { // DATA inside a header block
		block := w.encode(req)
		_ = w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:4]})
		_ = w.fr.WriteData(1, true, []byte("x"))
	})
	add(func(w *blockWriter) { // a block the input ends in
		block := w.encode(req)
		_ = w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:4]})
	})
	add(func(w *blockWriter) {
		_ = w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: w.encode(req),
			EndHeaders: true, Priority: http2.PriorityParam{StreamDep: 0, Weight: 7}})
		_ = w.fr.WritePing(false, [8]byte{1})
	})
	return seeds
}

// blockWriter writes the frames of header blocks, encoded with one HPACK
// encoder, for the header block tests.
type blockWriter struct {
	buf  bytes.Buffer
	fr   *http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder
}

func newBlockWriter() *blockWriter {
	w := &blockWriter{}
	w.fr = http2.NewFramer(&w.buf, nil)
	w.fr.AllowIllegalWrites = true
	w.enc = hpack.NewEncoder(&w.hbuf)
	return w
}

func (w *blockWriter) encode(fs []hpack.HeaderField) []byte {
	w.hbuf.Reset()
	for _, f := range fs {
		_ = w.enc.WriteField(f)
	}
	return append([]byte(nil), w.hbuf.Bytes()...)
}

func (w *blockWriter) headers(sid uint32, end bool, fs []hpack.HeaderField) {
	w.rawHeaders(sid, end, w.encode(fs))
}

func (w *blockWriter) rawHeaders(sid uint32, end bool, block []byte) {
	_ = w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: sid, BlockFragment: block, EndStream: end, EndHeaders: true})
}

// split writes fs's block as a HEADERS frame and CONTINUATION frames of
// about n bytes each.
func (w *blockWriter) split(sid uint32, fs []hpack.HeaderField, n int) {
	block := w.encode(fs)
	first := min(n, len(block))
	_ = w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: sid, BlockFragment: block[:first],
		EndStream: true, EndHeaders: first == len(block)})
	for rest := block[first:]; len(rest) > 0; {
		k := min(n, len(rest))
		_ = w.fr.WriteContinuation(sid, k == len(rest), rest[:k])
		rest = rest[k:]
	}
}

// splitFields writes the fields of fs, k of them to a frame.
func (w *blockWriter) splitFields(sid uint32, fs []hpack.HeaderField, k int) {
	for i := 0; i < len(fs); i += k {
		frag := w.encode(fs[i:min(i+k, len(fs))])
		last := i+k >= len(fs)
		if i == 0 {
			_ = w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: sid, BlockFragment: frag, EndStream: true, EndHeaders: last})
		} else {
			_ = w.fr.WriteContinuation(sid, last, frag)
		}
	}
}

// TestHeaderBlocksAllocs reads header blocks whose fields are all in the
// HPACK table, as a connection's repeated calls are: headerBlocks adds no
// allocation to the HEADERS frame the Framer makes. (x/net's own reading
// of a block makes ten more.)
func TestHeaderBlocksAllocs(t *testing.T) {
	const runs = 200
	fs := []hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
		{Name: ":path", Value: "/bench.Bench/Unary"}, {Name: ":authority", Value: "127.0.0.1:50051"},
		{Name: "content-type", Value: "application/grpc+msgpack"}, {Name: "te", Value: "trailers"},
		{Name: "user-agent", Value: "grpc-go/1.85.0"}, {Name: "grpc-timeout", Value: "99m"},
	}
	w := newBlockWriter()
	for i := 0; i < runs+2; i++ {
		w.split(uint32(2*i+1), fs, 12)
	}
	fr := http2.NewFramer(nil, bytes.NewReader(w.buf.Bytes()))
	var blocks headerBlocks
	blocks.init(hpack.NewDecoder(4096, nil))
	read := func() {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		mf, err := blocks.read(fr, f.(*http2.HeadersFrame))
		if err != nil {
			t.Fatal(err)
		}
		if mh := mf.(*http2.MetaHeadersFrame); len(mh.Fields) != len(fs) || mh.PseudoValue("path") != fs[2].Value {
			t.Fatalf("read fields %v, want %v", mh.Fields, fs)
		}
	}
	read() // fills the table
	if allocs := testing.AllocsPerRun(runs, read); allocs > 1 {
		t.Errorf("reading a header block of indexed fields: %.1f allocations, want at most 1 (the HEADERS frame)", allocs)
	}
}
