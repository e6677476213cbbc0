package featurepb_test

import (
	"bytes"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/parleyrpc/parley/stubs/internal/featurepb"
)

// TestDecodeAllocs pins what decoding costs in allocations: a message of
// numbers only (Page) decodes into a reused value without allocating, in
// msgpack and in protobuf, and encodes into a buffer without allocating. The
// generated msgpack decoders used to allocate their key buffer once per
// message; parleyimpl.DecodeMsgpackFields reads keys into a pooled one.
func TestDecodeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers at random")
	}
	page := &featurepb.Page{Offset: 10, Limit: 20, Level: featurepb.Level_LEVEL_HIGH}
	mp, err := msgpack.Marshal(page)
	if err != nil {
		t.Fatal(err)
	}
	var r bytes.Reader
	d := msgpack.NewDecoder(&r)
	var into featurepb.Page
	if n := testing.AllocsPerRun(100, func() {
		r.Reset(mp)
		d.ResetReader(&r)
		if err := into.DecodeMsgpack(d); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("DecodeMsgpack of a Page: %v allocations, want 0", n)
	}
	pb, err := page.AppendProto(nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := into.UnmarshalProto(pb); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("UnmarshalProto of a Page: %v allocations, want 0", n)
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := page.AppendProto(buf[:0]); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("AppendProto of a Page into a buffer: %v allocations, want 0", n)
	}
	if into != *page {
		t.Fatalf("decoded %+v, want %+v", into, *page)
	}
}
