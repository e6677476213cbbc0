package featurepb_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/parleyrpc/parley/stubs/internal/featurepb"
)

// plainChat is featurepb.ChatMessage without its generated methods, so
// msgpack encodes it by reflection on the same struct tags.
type plainChat featurepb.ChatMessage

func benchValues() map[string][2]any {
	s := fullScalars()
	c := &featurepb.ChatMessage{From: "ann", Text: "hello, world", Sent: time.Unix(1700000000, 5)}
	col := &featurepb.Collections{
		Ints:    []int32{1, 2, 3, 4, 5, 6, 7, 8},
		Strings: []string{"alpha", "beta", "gamma"},
		Counts:  map[string]int64{"a": 1, "b": 2},
	}
	return map[string][2]any{
		"Scalars":     {s, (*plainScalars)(s)},
		"ChatMessage": {c, (*plainChat)(c)},
		"Collections": {col, (*plainCollections)(col)},
	}
}

// BenchmarkEncode compares the generated EncodeMsgpack with msgpack's
// reflection-based encoder on the same struct tags, both through a reused
// msgpack.Encoder as the runtime's codec uses them.
func BenchmarkEncode(b *testing.B) {
	for name, v := range benchValues() {
		for i, impl := range []string{"generated", "reflection"} {
			b.Run(name+"/"+impl, func(b *testing.B) {
				var buf bytes.Buffer
				enc := msgpack.NewEncoder(&buf)
				enc.UseCompactInts(true)
				b.ReportAllocs()
				for b.Loop() {
					buf.Reset()
					if err := enc.Encode(v[i]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDecode compares the generated DecodeMsgpack with msgpack's
// reflection-based decoder on the same bytes.
func BenchmarkDecode(b *testing.B) {
	for name, v := range benchValues() {
		data, err := msgpack.Marshal(v[0])
		if err != nil {
			b.Fatal(err)
		}
		targets := []func() any{
			func() any {
				switch v[0].(type) {
				case *featurepb.Scalars:
					return new(featurepb.Scalars)
				case *featurepb.ChatMessage:
					return new(featurepb.ChatMessage)
				}
				return new(featurepb.Collections)
			},
			func() any {
				switch v[0].(type) {
				case *featurepb.Scalars:
					return new(plainScalars)
				case *featurepb.ChatMessage:
					return new(plainChat)
				}
				return new(plainCollections)
			},
		}
		for i, impl := range []string{"generated", "reflection"} {
			b.Run(name+"/"+impl, func(b *testing.B) {
				var r bytes.Reader
				dec := msgpack.NewDecoder(&r)
				b.ReportAllocs()
				for b.Loop() {
					r.Reset(data)
					dec.ResetReader(&r)
					if err := dec.Decode(targets[i]()); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
