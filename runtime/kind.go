package runtime

import "fmt"

// Kind is the shape of a method: how many messages flow each way.
type Kind int

const (
	// Unary: one request, one response.
	Unary Kind = iota
	// ClientStream: many requests, one response.
	ClientStream
	// ServerStream: one request, many responses.
	ServerStream
	// BidiStream: many requests and many responses, full duplex.
	BidiStream
)

// String returns the kind's name, for logs.
func (k Kind) String() string {
	switch k {
	case Unary:
		return "unary"
	case ClientStream:
		return "client_stream"
	case ServerStream:
		return "server_stream"
	case BidiStream:
		return "bidi_stream"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// clientStreams reports whether the client may send more than one message.
func (k Kind) clientStreams() bool { return k == ClientStream || k == BidiStream }
