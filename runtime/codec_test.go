package runtime_test

import (
	"encoding/json"
	"sync/atomic"
	"testing"

	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// jsonCodec is a codec for the tests: JSON under the name it holds.
type jsonCodec string

func (c jsonCodec) Name() string                       { return string(c) }
func (jsonCodec) Marshal(v any) ([]byte, error)        { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error   { return json.Unmarshal(data, v) }
func (c jsonCodec) option() prt.Option                 { return prt.WithCodec(c) }
func (c jsonCodec) counted(n *atomic.Int64) wire.Codec { return countingCodec{c, n} }

// countingCodec is a codec that counts the messages it decodes: on a
// server, the requests that arrived with its content-subtype.
type countingCodec struct {
	wire.Codec
	decoded *atomic.Int64
}

func (c countingCodec) Unmarshal(data []byte, v any) error {
	c.decoded.Add(1)
	return c.Codec.Unmarshal(data, v)
}

// TestClientSendsWithCodecAddedLast: a client with several codecs sends
// with the one added last (msgpack only when no other was added), every
// time it is dialled; the server sees that content-subtype.
func TestClientSendsWithCodecAddedLast(t *testing.T) {
	forEachImpl(t, testClientSendsWithCodecAddedLast)
}

// testClientSendsWithCodecAddedLast is TestClientSendsWithCodecAddedLast
// over tr.
func testClientSendsWithCodecAddedLast(t *testing.T, tr transport) {
	const a, b = jsonCodec("jsona"), jsonCodec("jsonb")
	decoded := map[string]*atomic.Int64{"msgpack": {}, "jsona": {}, "jsonb": {}}
	e := newEnv(t, tr, registerEcho, envOpts{server: []prt.ServerOption{
		prt.WithCodec(countingCodec{wire.Msgpack, decoded["msgpack"]}),
		prt.WithCodec(a.counted(decoded["jsona"])),
		prt.WithCodec(b.counted(decoded["jsonb"])),
	}})
	cases := []struct {
		name string
		opts []prt.DialOption
		want string
	}{
		{"none", nil, "msgpack"},
		{"a then b", []prt.DialOption{a.option(), b.option()}, "jsonb"},
		{"b then a", []prt.DialOption{b.option(), a.option()}, "jsona"},
		{"a, b, a again", []prt.DialOption{a.option(), b.option(), a.option()}, "jsona"},
		{"b then msgpack", []prt.DialOption{b.option(), prt.WithCodec(wire.Msgpack)}, "jsonb"},
		{"a, b, MaxRecvMsgDepth", []prt.DialOption{a.option(), b.option(), prt.MaxRecvMsgDepth(100)}, "jsonb"},
	}
	// With two codecs besides msgpack, a client picking at random would
	// send with the wrong one about every other dial.
	const dials = 20
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, n := range decoded {
				n.Store(0)
			}
			for i := range dials {
				client, err := prt.Dial(e.addr, tr.dialOpts(c.opts...)...)
				if err != nil {
					t.Fatal(err)
				}
				res, err := prt.CallUnary[Msg, Msg](testCtx(t), client, mUnary, &Msg{Text: "hi", N: int64(i)})
				client.Close()
				if err != nil {
					t.Fatalf("dial %d: %v", i, err)
				}
				if res.Text != "echo: hi" || res.N != int64(i)+1 {
					t.Fatalf("dial %d: got %+v", i, res)
				}
			}
			for name, n := range decoded {
				want := int64(0)
				if name == c.want {
					want = dials
				}
				if got := n.Load(); got != want {
					t.Errorf("the server decoded %d requests as %s, want %d", got, name, want)
				}
			}
		})
	}
}
