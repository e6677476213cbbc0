package parleyimpl

// EnforceVersion is used by generated code to check at compile time that
// it was generated for an API version this package offers. A generated
// file that needs version N declares
//
//	const (
//		_ = parleyimpl.EnforceVersion(N - parleyimpl.MinVersion)
//		_ = parleyimpl.EnforceVersion(parleyimpl.MaxVersion - N)
//	)
//
// and one of the two conversions overflows (a compile error naming this
// type) when N is outside [MinVersion, MaxVersion]: regenerate the file
// with a matching parley gen, or use a matching parley.
type EnforceVersion uint

// The range of generated-code API versions this package supports.
//
// Version 1: DecodeMsgpackFields and SkipMsgpackMap for the msgpack
// decoders; the protobuf helpers (AppendLen, the Proto* functions and
// types) for the protobuf codec.
const (
	MinVersion = 1
	MaxVersion = 1
)
