package health

import (
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parleyrpc/parley/wire"
)

// Codec is the codec named "proto", [wire.Proto]: CheckRequest and
// CheckResponse implement wire.ProtoMarshaler and wire.ProtoUnmarshaler
// with their standard protobuf encoding (grpc/health/v1/health.proto),
// written with protowire and wire.WalkProto rather than generated code:
//
//	message HealthCheckRequest  { string service = 1; }
//	message HealthCheckResponse { ServingStatus status = 1; }
//
// Add it to a server with runtime.WithCodec(health.Codec): the server then
// answers "application/grpc" and "application/grpc+proto" requests with it,
// which is what Kubernetes gRPC probes and grpc_health_probe send; since it
// is wire.Proto, every other service whose messages encode themselves in
// protobuf (server reflection, for one) is answered by the same codec. A
// client given runtime.WithCodec(health.Codec) speaks protobuf to the
// health service. It is safe for concurrent use.
var Codec wire.Codec = wire.Proto

// AppendProto appends the protobuf encoding of m to dst.
func (m *CheckRequest) AppendProto(dst []byte) ([]byte, error) {
	if m.Service != "" {
		dst = protowire.AppendTag(dst, 1, protowire.BytesType)
		dst = protowire.AppendString(dst, m.Service)
	}
	return dst, nil
}

// UnmarshalProto decodes m from its protobuf encoding.
func (m *CheckRequest) UnmarshalProto(data []byte) error {
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
}

// AppendProto appends the protobuf encoding of m to dst.
func (m *CheckResponse) AppendProto(dst []byte) ([]byte, error) {
	if m.Status != 0 {
		dst = protowire.AppendTag(dst, 1, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(int64(m.Status)))
	}
	return dst, nil
}

// UnmarshalProto decodes m from its protobuf encoding.
func (m *CheckResponse) UnmarshalProto(data []byte) error {
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
