package main

import (
	"encoding/binary"
)

// The header blocks below are built by hand, without the HPACK dynamic
// table (RFC 7541 section 6: indexed fields from the static table, and
// literals "without indexing"), so that one block can be sent any number
// of times and on any stream, and so that the only dynamic-table entry a
// server ever holds is the one hpack-bomb inserts on purpose.

// Static-table indexes (RFC 7541 Appendix A) used here.
const (
	hpAuthority   = 1  // :authority
	hpMethodPOST  = 3  // :method POST (name and value)
	hpPath        = 4  // :path
	hpSchemeHTTP  = 6  // :scheme http (name and value)
	hpContentType = 31 // content-type
	hpFirstDyn    = 62 // the newest dynamic-table entry
)

// appendHPInt appends v as an HPACK integer with an n-bit prefix, the high
// bits of the first byte set to first (RFC 7541 section 5.1).
func appendHPInt(dst []byte, first byte, n uint, v uint64) []byte {
	max := uint64(1)<<n - 1
	if v < max {
		return append(dst, first|byte(v))
	}
	dst = append(dst, first|byte(max))
	v -= max
	for v >= 128 {
		dst = append(dst, byte(v%128)|0x80)
		v /= 128
	}
	return append(dst, byte(v))
}

// appendHPString appends s as a plain (not Huffman-coded) string literal.
func appendHPString(dst []byte, s string) []byte {
	dst = appendHPInt(dst, 0, 7, uint64(len(s)))
	return append(dst, s...)
}

// appendIndexed appends an indexed header field (section 6.1).
func appendIndexed(dst []byte, idx uint64) []byte { return appendHPInt(dst, 0x80, 7, idx) }

// appendLiteral appends a literal field without indexing whose name is the
// static-table entry idx (section 6.2.2).
func appendLiteral(dst []byte, idx uint64, value string) []byte {
	return appendHPString(appendHPInt(dst, 0x00, 4, idx), value)
}

// appendLiteralName appends a literal field without indexing with a new
// name (section 6.2.2).
func appendLiteralName(dst []byte, name, value string) []byte {
	return appendHPString(appendHPString(append(dst, 0x00), name), value)
}

// appendLiteralIndexed appends a literal field with incremental indexing and
// a new name (section 6.2.1): the decoder adds it to its dynamic table.
func appendLiteralIndexed(dst []byte, name, value string) []byte {
	return appendHPString(appendHPString(append(dst, 0x40), name), value)
}

// Content-type of every request: parley's msgpack codec.
const contentType = "application/grpc+msgpack"

// Method paths.
const (
	pathEmptyCall  = "/grpc.testing.TestService/EmptyCall"
	pathUnaryCall  = "/grpc.testing.TestService/UnaryCall"
	pathFullDuplex = "/grpc.testing.TestService/FullDuplexCall"
	pathUnknown    = "/grpc.testing.TestService/NoSuchMethod"
)

// requestBlock returns the header block of a gRPC request for path, with
// extra header fields as name, value pairs. With path "" the block has no
// :path, which makes the request malformed (RFC 9113 section 8.3.1).
func requestBlock(authority, path string, extra ...string) []byte {
	b := appendIndexed(nil, hpMethodPOST)
	b = appendIndexed(b, hpSchemeHTTP)
	if path != "" {
		b = appendLiteral(b, hpPath, path)
	}
	b = appendLiteral(b, hpAuthority, authority)
	b = appendLiteral(b, hpContentType, contentType)
	b = appendLiteralName(b, "te", "trailers")
	for i := 0; i+1 < len(extra); i += 2 {
		b = appendLiteralName(b, extra[i], extra[i+1])
	}
	return b
}

// grpcFrame appends one length-prefixed gRPC message (the 5-byte prefix:
// compressed flag and big-endian length, then the message).
func grpcFrame(dst []byte, compressed bool, msg []byte) []byte {
	return append(grpcPrefix(dst, compressed, len(msg)), msg...)
}

// grpcPrefix appends the 5-byte prefix of a message of n bytes.
func grpcPrefix(dst []byte, compressed bool, n int) []byte {
	flag := byte(0)
	if compressed {
		flag = 1
	}
	return binary.BigEndian.AppendUint32(append(dst, flag), uint32(n))
}

// A few msgpack encoders (https://github.com/msgpack/msgpack/blob/master/spec.md),
// enough for the requests below, written out so that each attack's bytes
// are visible here.

func mpMap(dst []byte, n int) []byte { return append(dst, 0x80|byte(n)) } // fixmap, n < 16

func mpStr(dst []byte, s string) []byte { // fixstr, len < 32
	return append(append(dst, 0xa0|byte(len(s))), s...)
}

func mpUint(dst []byte, v uint32) []byte { // uint 32
	return binary.BigEndian.AppendUint32(append(dst, 0xce), v)
}

func mpBin32Header(dst []byte, n int) []byte { // bin 32
	return binary.BigEndian.AppendUint32(append(dst, 0xc6), uint32(n))
}

// simpleRequest is a grpc.testing.SimpleRequest asking for a response of
// size zero bytes: {"response_type": 0, "response_size": size}.
func simpleRequest(size uint32) []byte {
	b := mpMap(nil, 2)
	b = append(mpStr(b, "response_type"), 0x00)
	return mpUint(mpStr(b, "response_size"), size)
}

// emptyMessage is grpc.testing.Empty (and any message with no fields set).
var emptyMessage = []byte{0x80}
