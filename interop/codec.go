package interop

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
	"google.golang.org/grpc/encoding"
)

// CodecName is the name the msgpack codec is registered under in grpc-go:
// grpc-go then sends and accepts the content-type application/grpc+msgpack,
// parley's.
const CodecName = "msgpack"

// Codec is a grpc-go encoding.Codec for parley's message encoding (a
// msgpack map keyed by IDL field names, docs/protocol.md section 10). It
// uses github.com/vmihailenco/msgpack/v5 directly, not parley's wire
// package, so that the grpc-go side of the interop tests is an independent
// implementation. Package interop registers it with encoding.RegisterCodec
// when it is imported. It is safe for concurrent use.
type Codec struct{}

func init() { encoding.RegisterCodec(Codec{}) }

// Name returns CodecName.
func (Codec) Name() string { return CodecName }

// Marshal encodes v, a pointer to a msgpack-tagged struct.
func (Codec) Marshal(v any) ([]byte, error) {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("interop: msgpack marshal %T: %w", v, err)
	}
	return b, nil
}

// Unmarshal decodes data into v, a non-nil pointer. Unknown keys are
// ignored and absent keys leave their fields zero, as the protocol asks.
func (Codec) Unmarshal(data []byte, v any) error {
	if err := msgpack.Unmarshal(data, v); err != nil {
		return fmt.Errorf("interop: msgpack unmarshal %T: %w", v, err)
	}
	return nil
}
