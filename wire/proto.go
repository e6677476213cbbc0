package wire

import (
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// ProtoMessage is a message with a protobuf binary encoding of its own:
// the types parley gen generates implement it (without reflection), as do
// the health service's messages. [Proto] encodes and decodes through it.
type ProtoMessage interface {
	// AppendProto appends the message's protobuf encoding to b and
	// returns the extended slice.
	AppendProto(b []byte) ([]byte, error)
	// UnmarshalProto resets the message and decodes data into it. It
	// must not retain data.
	UnmarshalProto(data []byte) error
}

// Proto is the protobuf codec, named "proto": content-type
// "application/grpc+proto", and bare "application/grpc", which the gRPC
// protocol defines as protobuf. It encodes values that implement
// [ProtoMessage] (every message parley gen generates), and the Go types
// of the well-known types methods may take or return: *struct{}
// (google.protobuf.Empty, the empty message), *time.Time
// (google.protobuf.Timestamp) and *time.Duration
// (google.protobuf.Duration). It implements
// [AppendCodec] and is safe for concurrent use.
//
// A server accepts protobuf requests by default and answers each call in
// the codec it was called with, so stock gRPC clients (grpc-go's, grpcurl,
// Kubernetes probes) reach parley services. A client sends protobuf when
// dialed with runtime.WithCodec(wire.Proto); msgpack stays its default.
//
// Errors from Unmarshal mean the message cannot be decoded (they wrap
// [ErrMalformedProto] for bytes that are not protobuf); receivers fail the
// call with INTERNAL, as grpc-go does.
var Proto Codec = protoCodec{}

type protoCodec struct{}

func (protoCodec) Name() string { return "proto" }

func (c protoCodec) Marshal(v any) ([]byte, error) {
	return c.MarshalAppend(nil, v)
}

func (protoCodec) MarshalAppend(dst []byte, v any) ([]byte, error) {
	switch m := v.(type) {
	case ProtoMessage:
		out, err := m.AppendProto(dst)
		if err != nil {
			return out, fmt.Errorf("parley: proto marshal %T: %w", v, err)
		}
		return out, nil
	case *struct{}:
		return dst, nil
	case *time.Time:
		return AppendSecondsNanosProto(dst, m.Unix(), int32(m.Nanosecond())), nil
	case *time.Duration:
		return AppendSecondsNanosProto(dst, int64(*m/time.Second), int32(*m%time.Second)), nil
	}
	return dst, fmt.Errorf("parley: proto marshal: %T has no protobuf encoding (generate it with parley gen)", v)
}

func (protoCodec) Unmarshal(data []byte, v any) error {
	switch m := v.(type) {
	case ProtoMessage:
		if err := m.UnmarshalProto(data); err != nil {
			return fmt.Errorf("parley: proto unmarshal %T: %w", v, err)
		}
		return nil
	case *struct{}:
		if m == nil {
			break
		}
		// Empty has no fields, but the bytes must still be protobuf.
		for b := data; len(b) > 0; {
			_, _, n := protowire.ConsumeField(b)
			if n < 0 {
				return fmt.Errorf("parley: proto unmarshal %T: %w: %v", v, ErrMalformedProto, protowire.ParseError(n))
			}
			b = b[n:]
		}
		return nil
	case *time.Time:
		sec, nsec, err := ParseSecondsNanosProto(data)
		if err != nil {
			return fmt.Errorf("parley: proto unmarshal %T: %w", v, err)
		}
		*m = time.Unix(sec, int64(nsec))
		return nil
	case *time.Duration:
		sec, nsec, err := ParseSecondsNanosProto(data)
		if err != nil {
			return fmt.Errorf("parley: proto unmarshal %T: %w", v, err)
		}
		const maxSeconds = math.MaxInt64 / int64(time.Second)
		if sec > maxSeconds || sec < -maxSeconds {
			return fmt.Errorf("parley: proto unmarshal %T: google.protobuf.Duration of %d s is out of range", v, sec)
		}
		*m = time.Duration(sec)*time.Second + time.Duration(nsec)
		return nil
	}
	return fmt.Errorf("parley: proto unmarshal: %T has no protobuf encoding (generate it with parley gen)", v)
}

// AppendSecondsNanosProto appends the body of a google.protobuf.Timestamp
// or google.protobuf.Duration message, {int64 seconds = 1; int32 nanos =
// 2}, each left out when zero, to b. The Proto codec writes *time.Time and
// *time.Duration with it, and generated code and errdetails their fields
// of those types.
func AppendSecondsNanosProto(b []byte, sec int64, nsec int32) []byte {
	if sec != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(sec))
	}
	if nsec != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(nsec)))
	}
	return b
}

// ParseSecondsNanosProto decodes the body of a google.protobuf.Timestamp
// or google.protobuf.Duration message. Fields of other numbers or wire
// types are skipped, as unknown; it fails only on bytes that are not
// protobuf (an error wrapping ErrMalformedProto). It checks no ranges.
func ParseSecondsNanosProto(b []byte) (sec int64, nsec int32, err error) {
	err = WalkProto(b, func(num protowire.Number, typ protowire.Type, v uint64, _ []byte) error {
		if typ != protowire.VarintType {
			return nil
		}
		switch num {
		case 1:
			sec = int64(v)
		case 2:
			nsec = int32(v)
		}
		return nil
	})
	return sec, nsec, err
}
