package health

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parleyrpc/parley/wire"
)

// Codec is a wire.Codec named "proto" that encodes the health service's
// two messages, CheckRequest and CheckResponse, in their standard protobuf
// encoding (grpc/health/v1/health.proto), written with protowire and
// wire.WalkProto rather than generated code:
//
//	message HealthCheckRequest  { string service = 1; }
//	message HealthCheckResponse { ServingStatus status = 1; }
//
// It handles only those two types and fails on any other. Add it to a
// server with runtime.WithCodec(health.Codec): the server then answers
// "application/grpc" and "application/grpc+proto" requests with it, which
// is what Kubernetes gRPC probes and grpc_health_probe send. A client given
// runtime.WithCodec(health.Codec) speaks protobuf to the health service.
// It is safe for concurrent use.
var Codec wire.Codec = protoCodec{}

type protoCodec struct{}

func (protoCodec) Name() string { return "proto" }

func (protoCodec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case *CheckRequest:
		var b []byte
		if m.Service != "" {
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendString(b, m.Service)
		}
		return b, nil
	case *CheckResponse:
		var b []byte
		if m.Status != 0 {
			b = protowire.AppendTag(b, 1, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(int64(m.Status)))
		}
		return b, nil
	}
	return nil, fmt.Errorf("health: the proto codec cannot marshal %T", v)
}

func (protoCodec) Unmarshal(data []byte, v any) error {
	switch m := v.(type) {
	case *CheckRequest:
		*m = CheckRequest{}
		return wire.WalkProto(data, func(num, typ int, _ uint64, p []byte) error {
			if num == 1 {
				if typ != int(protowire.BytesType) {
					return wire.ErrMalformedProto
				}
				m.Service = string(p)
			}
			return nil
		})
	case *CheckResponse:
		*m = CheckResponse{}
		return wire.WalkProto(data, func(num, typ int, v uint64, _ []byte) error {
			if num == 1 {
				if typ != int(protowire.VarintType) {
					return wire.ErrMalformedProto
				}
				m.Status = ServingStatus(int32(v))
			}
			return nil
		})
	}
	return fmt.Errorf("health: the proto codec cannot unmarshal into %T", v)
}
