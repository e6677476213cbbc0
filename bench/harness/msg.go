package harness

import (
	"google.golang.org/grpc/encoding"

	"github.com/parleyrpc/parley/wire"
)

// Msg is the one message type of every benchmark: a msgpack map with the
// IDL field names "n" and "data", as parley's wire format prescribes.
type Msg struct {
	// N is a count: how many messages a Flood request asks for (0: until
	// the call is cancelled), or how many a Sink response counted.
	N int64 `msgpack:"n,omitempty"`
	// Data is the payload, msgpack bin.
	Data []byte `msgpack:"data,omitempty"`
}

// The benchmark service's methods. Both implementations register them
// with the same behaviour.
const (
	service = "bench.Bench"
	// mUnary echoes the request's data.
	mUnary = "/bench.Bench/Unary"
	// mPingPong is a bidirectional stream that echoes every request.
	mPingPong = "/bench.Bench/PingPong"
	// mFlood is a server stream: it sends req.N copies of req.Data, or,
	// when req.N is 0, sends until the call is cancelled.
	mFlood = "/bench.Bench/Flood"
	// mConverse echoes every request as mPingPong does; parley serves it
	// as a conversation without a goroutine (HandleConversation), grpc-go
	// as mPingPong, having nothing else.
	mConverse = "/bench.Bench/Converse"
	// mSink is a client stream: it counts the requests and answers with
	// the count in N.
	mSink = "/bench.Bench/Sink"
)

// grpcCodec is parley's msgpack codec as a grpc-go codec, registered under
// the name "msgpack": grpc-go then sends and accepts
// "application/grpc+msgpack", and both implementations spend exactly the
// same work on (un)marshalling, so the comparison is of the runtimes.
type grpcCodec struct{}

func (grpcCodec) Name() string                       { return wire.Msgpack.Name() }
func (grpcCodec) Marshal(v any) ([]byte, error)      { return wire.Msgpack.Marshal(v) }
func (grpcCodec) Unmarshal(data []byte, v any) error { return wire.Msgpack.Unmarshal(data, v) }

func init() {
	encoding.RegisterCodec(grpcCodec{})
}
