// Package wire is the gRPC-over-HTTP/2 protocol as pure functions: message framing, status codes and errors, metadata, headers, timeouts, codecs and compression, with no I/O state.
package wire
