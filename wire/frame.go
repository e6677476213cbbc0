package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// PrefixLen is the size of the prefix in front of every gRPC message: one
// flag byte and a four-byte big-endian length.
//
// From PROTOCOL-HTTP2.md:
//
//	Length-Prefixed-Message → Compressed-Flag Message-Length Message
//	Compressed-Flag → 0 / 1   # encoded as 1 byte unsigned integer
//	Message-Length → {length of Message}  # encoded as 4 byte unsigned integer (big endian)
//	Message → *{binary octet}
const PrefixLen = 5

// The two legal values of the Compressed-Flag byte.
//
// From PROTOCOL-HTTP2.md: "A Compressed-Flag value of 1 indicates that the
// binary octet sequence of Message is compressed using the mechanism declared
// by the Message-Encoding header. A value of 0 indicates that no encoding of
// Message bytes has occurred."
const (
	// FlagUncompressed marks a message whose bytes are the codec's output.
	FlagUncompressed byte = 0
	// FlagCompressed marks a message compressed with the stream's
	// grpc-encoding. It is a protocol error to send it when the stream has
	// no grpc-encoding (or "identity").
	FlagCompressed byte = 1
)

// ErrBadFlag is returned by [ParsePrefix] and [ParseMessage] when the flag
// byte of a message prefix is neither [FlagUncompressed] nor
// [FlagCompressed]. The message stream is corrupt and cannot be
// resynchronised: the receiver should fail the call (grpc-go fails it with
// INTERNAL; [CodeOf] maps ErrBadFlag to [Internal]). It is returned as is,
// never wrapped, so err == ErrBadFlag works.
var ErrBadFlag = errors.New("parley: malformed message prefix: compressed flag is neither 0 nor 1")

// MaxMessageLen is the largest length a message prefix can express
// (2^32-1 bytes).
const MaxMessageLen = math.MaxUint32

// SizeError reports a message longer than the receiver's limit. Receivers
// fail the call with RESOURCE_EXHAUSTED ([CodeOf] maps *SizeError to
// [ResourceExhausted]), as grpc-go does.
//
// Size is the length announced by the message prefix. When the error comes
// from [Compressor.Decompress], decompression stops as soon as the output
// passes Max, so Size is then only a lower bound (Max+1): the real size is
// never computed, which is what makes decompression bombs harmless.
type SizeError struct {
	// Size is the message size in bytes (a lower bound when decompressing).
	Size int
	// Max is the limit that Size exceeds.
	Max int
}

// Error returns "parley: received message larger than max (Size vs. Max)",
// grpc-go's wording with "parley" for "grpc".
func (e *SizeError) Error() string {
	return fmt.Sprintf("parley: received message larger than max (%d vs. %d)", e.Size, e.Max)
}

// AppendPrefix appends the 5-byte prefix of a message of length bytes to dst
// and returns the extended slice. It is meant for senders that write the
// prefix and the payload separately (for example to avoid copying a large
// payload). length must be in [0, MaxMessageLen]; AppendPrefix panics
// otherwise, because such a message cannot be framed and sending a truncated
// length would desynchronise the stream.
func AppendPrefix(dst []byte, compressed bool, length int) []byte {
	if length < 0 || uint64(length) > MaxMessageLen {
		panic(fmt.Sprintf("parley: message length %d cannot be framed (max %d)", length, uint64(MaxMessageLen)))
	}
	flag := FlagUncompressed
	if compressed {
		flag = FlagCompressed
	}
	return binary.BigEndian.AppendUint32(append(dst, flag), uint32(length))
}

// AppendMessage appends one whole message, prefix and payload, to dst and
// returns the extended slice. compressed must be true only when payload has
// been compressed with the stream's grpc-encoding. It panics when payload is
// longer than [MaxMessageLen], like [AppendPrefix].
func AppendMessage(dst []byte, compressed bool, payload []byte) []byte {
	dst = AppendPrefix(dst, compressed, len(payload))
	return append(dst, payload...)
}

// ParsePrefix parses the message prefix at the start of p.
//
// It returns ok=false and err=nil when p is shorter than [PrefixLen] ("need
// more bytes"), and err=[ErrBadFlag] as soon as the first byte is a flag
// other than 0 or 1, even if fewer than five bytes are present. On success
// length is the announced payload length, which may be up to
// [MaxMessageLen]: callers must check it against their limit before
// buffering the payload.
func ParsePrefix(p []byte) (compressed bool, length uint32, ok bool, err error) {
	if len(p) == 0 {
		return false, 0, false, nil
	}
	switch p[0] {
	case FlagUncompressed:
	case FlagCompressed:
		compressed = true
	default:
		return false, 0, false, ErrBadFlag
	}
	if len(p) < PrefixLen {
		return false, 0, false, nil
	}
	return compressed, binary.BigEndian.Uint32(p[1:PrefixLen]), true, nil
}

// checkSize returns a *SizeError if a message of length bytes is over
// maxSize (a negative maxSize: no limit).
func checkSize(length uint32, maxSize int) error {
	if maxSize >= 0 && uint64(length) > uint64(maxSize) {
		size := int(min(uint64(length), uint64(math.MaxInt)))
		return &SizeError{Size: size, Max: maxSize}
	}
	return nil
}

// ParseMessage parses one whole message from the front of buf. It is the
// receive side of [AppendMessage]: feed it the bytes of the DATA frames of a
// stream, in order; message boundaries need not line up with frames
// ("DATA frame boundaries have no relation to Length-Prefixed-Message
// boundaries and implementations should make no assumptions about their
// alignment", PROTOCOL-HTTP2.md).
//
// Results:
//   - ok=true, err=nil: payload is the message (aliasing buf, not copied),
//     compressed is its flag and rest is what follows it in buf.
//   - ok=false, err=nil: buf holds only part of a message; read more bytes
//     and call again with the longer buffer. rest is buf.
//   - err=[ErrBadFlag]: the stream is malformed.
//   - err=*[SizeError]: maxSize >= 0 and the prefix announces more than
//     maxSize bytes. This is reported as soon as the prefix is complete,
//     before the payload arrives, so the receiver never buffers an oversized
//     message. A negative maxSize means no limit.
//
// The limit applies to the bytes on the wire; for compressed messages the
// caller must also bound decompression (see [Compressor.Decompress]).
func ParseMessage(buf []byte, maxSize int) (rest []byte, compressed bool, payload []byte, ok bool, err error) {
	compressed, length, ok, err := ParsePrefix(buf)
	if !ok {
		return buf, false, nil, false, err
	}
	if err := checkSize(length, maxSize); err != nil {
		return buf, compressed, nil, false, err
	}
	if uint64(len(buf)-PrefixLen) < uint64(length) {
		return buf, false, nil, false, nil
	}
	end := PrefixLen + int(length)
	// The three-index slice keeps appends to payload from overwriting rest.
	return buf[end:], compressed, buf[PrefixLen:end:end], true, nil
}
