package handpb

import "strconv"

// The types below mirror grpc/grpc src/proto/grpc/testing/messages.proto,
// empty.proto and test.proto, restricted to the fields the interop cases
// use. Each message is a msgpack map keyed by the proto field names exactly
// as declared (docs/protocol.md, section 10); zero fields are omitted.
// vmihailenco/msgpack encodes them by reflection from their struct tags.

// ServiceName is the fully qualified name of the interop test service.
const ServiceName = "grpc.testing.TestService"

// UnimplementedServiceName is a service no interop server implements.
const UnimplementedServiceName = "grpc.testing.UnimplementedService"

// Full method names ("/package.Service/Method") of grpc.testing.TestService.
const (
	EmptyCallMethod           = "/" + ServiceName + "/EmptyCall"
	UnaryCallMethod           = "/" + ServiceName + "/UnaryCall"
	StreamingOutputCallMethod = "/" + ServiceName + "/StreamingOutputCall"
	StreamingInputCallMethod  = "/" + ServiceName + "/StreamingInputCall"
	FullDuplexCallMethod      = "/" + ServiceName + "/FullDuplexCall"
	HalfDuplexCallMethod      = "/" + ServiceName + "/HalfDuplexCall"
	// UnimplementedCallMethod is declared by test.proto but implemented by
	// no interop server: calling it must fail with UNIMPLEMENTED.
	UnimplementedCallMethod = "/" + ServiceName + "/UnimplementedCall"
	// UnimplementedServiceCallMethod is a method of a service no interop
	// server registers.
	UnimplementedServiceCallMethod = "/" + UnimplementedServiceName + "/UnimplementedCall"
)

// Metadata keys the interop server echoes (interop-test-descriptions.md,
// "Echo Metadata").
const (
	// EchoInitialKey is echoed back in the response headers.
	EchoInitialKey = "x-grpc-test-echo-initial"
	// EchoTrailingKey is echoed back in the trailers; it is binary.
	EchoTrailingKey = "x-grpc-test-echo-trailing-bin"
)

// PayloadType is grpc.testing.PayloadType.
type PayloadType int32

// COMPRESSABLE is the only payload type: a body of zero bytes.
const COMPRESSABLE PayloadType = 0

// String returns the enum value's proto name.
func (t PayloadType) String() string {
	if t == COMPRESSABLE {
		return "COMPRESSABLE"
	}
	return "PayloadType(" + strconv.Itoa(int(t)) + ")"
}

// Empty is grpc.testing.Empty: the empty msgpack map.
type Empty struct{}

// BoolValue is grpc.testing.BoolValue, a nullable bool: {"value": bool}.
type BoolValue struct {
	Value bool `msgpack:"value,omitempty"`
}

// Payload is grpc.testing.Payload, a block of data.
type Payload struct {
	Type PayloadType `msgpack:"type,omitempty"`
	Body []byte      `msgpack:"body,omitempty"`
}

// EchoStatus is grpc.testing.EchoStatus: the status the client asks the
// server to end the call with.
type EchoStatus struct {
	Code    int32  `msgpack:"code,omitempty"`
	Message string `msgpack:"message,omitempty"`
}

// SimpleRequest is grpc.testing.SimpleRequest, the request of UnaryCall.
type SimpleRequest struct {
	ResponseType       PayloadType `msgpack:"response_type,omitempty"`
	ResponseSize       int32       `msgpack:"response_size,omitempty"`
	Payload            *Payload    `msgpack:"payload,omitempty"`
	FillUsername       bool        `msgpack:"fill_username,omitempty"`
	FillOauthScope     bool        `msgpack:"fill_oauth_scope,omitempty"`
	ResponseCompressed *BoolValue  `msgpack:"response_compressed,omitempty"`
	ResponseStatus     *EchoStatus `msgpack:"response_status,omitempty"`
	ExpectCompressed   *BoolValue  `msgpack:"expect_compressed,omitempty"`
	FillServerID       bool        `msgpack:"fill_server_id,omitempty"`
}

// SimpleResponse is grpc.testing.SimpleResponse.
type SimpleResponse struct {
	Payload    *Payload `msgpack:"payload,omitempty"`
	Username   string   `msgpack:"username,omitempty"`
	OauthScope string   `msgpack:"oauth_scope,omitempty"`
	ServerID   string   `msgpack:"server_id,omitempty"`
	Hostname   string   `msgpack:"hostname,omitempty"`
}

// StreamingInputCallRequest is grpc.testing.StreamingInputCallRequest.
type StreamingInputCallRequest struct {
	Payload          *Payload   `msgpack:"payload,omitempty"`
	ExpectCompressed *BoolValue `msgpack:"expect_compressed,omitempty"`
}

// StreamingInputCallResponse is grpc.testing.StreamingInputCallResponse.
type StreamingInputCallResponse struct {
	AggregatedPayloadSize int32 `msgpack:"aggregated_payload_size,omitempty"`
}

// ResponseParameters is grpc.testing.ResponseParameters: one response the
// server is asked to send.
type ResponseParameters struct {
	Size       int32      `msgpack:"size,omitempty"`
	IntervalUs int32      `msgpack:"interval_us,omitempty"`
	Compressed *BoolValue `msgpack:"compressed,omitempty"`
}

// StreamingOutputCallRequest is grpc.testing.StreamingOutputCallRequest, the
// request of StreamingOutputCall, FullDuplexCall and HalfDuplexCall.
type StreamingOutputCallRequest struct {
	ResponseType       PayloadType           `msgpack:"response_type,omitempty"`
	ResponseParameters []*ResponseParameters `msgpack:"response_parameters,omitempty"`
	Payload            *Payload              `msgpack:"payload,omitempty"`
	ResponseStatus     *EchoStatus           `msgpack:"response_status,omitempty"`
}

// StreamingOutputCallResponse is grpc.testing.StreamingOutputCallResponse.
type StreamingOutputCallResponse struct {
	Payload *Payload `msgpack:"payload,omitempty"`
}

// NewPayload returns a COMPRESSABLE payload of size zero bytes.
func NewPayload(size int) *Payload {
	return &Payload{Type: COMPRESSABLE, Body: make([]byte, size)}
}
