package testpb

// Metadata keys the interop server echoes (grpc/grpc
// doc/interop-test-descriptions.md, "Echo Metadata").
const (
	// EchoInitialKey is echoed back in the response headers.
	EchoInitialKey = "x-grpc-test-echo-initial"
	// EchoTrailingKey is echoed back in the trailers; it is binary.
	EchoTrailingKey = "x-grpc-test-echo-trailing-bin"
)

// NewPayload returns a COMPRESSABLE payload of size zero bytes, the only
// kind the interop cases use.
func NewPayload(size int) *Payload {
	return &Payload{Type: PayloadType_COMPRESSABLE, Body: make([]byte, size)}
}
