package wire

import "fmt"

// ProtoMarshaler is a message that writes its own protobuf binary
// encoding. Types with hand-written or generated protobuf encoders
// implement it, and [Proto] uses it.
type ProtoMarshaler interface {
	// AppendProto appends the message's protobuf encoding to dst and
	// returns the extended slice.
	AppendProto(dst []byte) ([]byte, error)
}

// ProtoUnmarshaler is a message that reads its own protobuf binary
// encoding. Implementations reset the message first (absent fields read
// as zero, as proto.Unmarshal does), skip unknown fields, must not retain
// data, and fail with an error wrapping [ErrMalformedProto] on bytes that
// are not a valid encoding.
type ProtoUnmarshaler interface {
	UnmarshalProto(data []byte) error
}

// Proto is a codec named "proto" (content-types "application/grpc" and
// "application/grpc+proto") for messages that implement [ProtoMarshaler]
// and [ProtoUnmarshaler]: the health service's messages, the reflection
// service's, and any other type that encodes itself. It fails on any
// other type. It needs no protobuf runtime and is safe for concurrent use.
//
// A server has one codec per name: add Proto with runtime.WithCodec, and
// every service whose messages implement the two interfaces answers
// protobuf callers (grpcurl, grpc_health_probe, Kubernetes probes,
// grpc-go's generated clients) on the same methods that answer msgpack.
var Proto Codec = protoCodec{}

type protoCodec struct{}

func (protoCodec) Name() string { return "proto" }

func (protoCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(ProtoMarshaler)
	if !ok {
		return nil, fmt.Errorf("parley: the proto codec cannot marshal %T: it does not implement wire.ProtoMarshaler", v)
	}
	return m.AppendProto(nil)
}

func (protoCodec) MarshalAppend(dst []byte, v any) ([]byte, error) {
	m, ok := v.(ProtoMarshaler)
	if !ok {
		return dst, fmt.Errorf("parley: the proto codec cannot marshal %T: it does not implement wire.ProtoMarshaler", v)
	}
	return m.AppendProto(dst)
}

func (protoCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(ProtoUnmarshaler)
	if !ok {
		return fmt.Errorf("parley: the proto codec cannot unmarshal into %T: it does not implement wire.ProtoUnmarshaler", v)
	}
	return m.UnmarshalProto(data)
}
