package health

import (
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parleyrpc/parley/wire"
)

// Codec is wire.Proto, the protobuf codec, which encodes the health
// service's two messages in their standard protobuf encoding
// (grpc/health/v1/health.proto) through their AppendProto and
// UnmarshalProto methods, written with protowire and wire.WalkProto:
//
//	message HealthCheckRequest  { string service = 1; }
//	message HealthCheckResponse { ServingStatus status = 1; }
//
// Servers accept protobuf by default, so Kubernetes gRPC probes and
// grpc_health_probe (which send "application/grpc") reach the health
// service with no option; adding runtime.WithCodec(health.Codec) to a
// server changes nothing. A client given runtime.WithCodec(health.Codec)
// speaks protobuf to the health service (and to generated services).
var Codec = wire.Proto

// AppendProto appends r's protobuf encoding to b: implements
// wire.ProtoMessage.
func (r *CheckRequest) AppendProto(b []byte) ([]byte, error) {
	if r != nil && r.Service != "" {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, r.Service)
	}
	return b, nil
}

// UnmarshalProto resets r and decodes data into it: implements
// wire.ProtoMessage.
func (r *CheckRequest) UnmarshalProto(data []byte) error {
	*r = CheckRequest{}
	return wire.WalkProto(data, func(num protowire.Number, typ protowire.Type, _ uint64, p []byte) error {
		if num == 1 {
			if typ != protowire.BytesType {
				return wire.ErrMalformedProto
			}
			r.Service = string(p)
		}
		return nil
	})
}

// AppendProto appends r's protobuf encoding to b: implements
// wire.ProtoMessage.
func (r *CheckResponse) AppendProto(b []byte) ([]byte, error) {
	if r != nil && r.Status != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(r.Status)))
	}
	return b, nil
}

// UnmarshalProto resets r and decodes data into it: implements
// wire.ProtoMessage.
func (r *CheckResponse) UnmarshalProto(data []byte) error {
	*r = CheckResponse{}
	return wire.WalkProto(data, func(num protowire.Number, typ protowire.Type, v uint64, _ []byte) error {
		if num == 1 {
			if typ != protowire.VarintType {
				return wire.ErrMalformedProto
			}
			r.Status = ServingStatus(int32(v))
		}
		return nil
	})
}
