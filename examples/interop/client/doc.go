// Command client runs gRPC's interop test cases with a parley client
// against any grpc.testing.TestService server and prints one line per case.
//
// Usage:
//
//	go run ./examples/interop/client -addr HOST:PORT [-tls -insecure-skip-verify | -tls -cacert F] [-codec proto] [-cases a,b]
//
// With -codec proto the client speaks protobuf, as every gRPC server does
// (grpc-go's interop server among them); the default is msgpack.
//
// Each case prints "PASS name (12ms)" or "FAIL name: why"; a closing line
// says "N passed, N failed", and the exit status is 1 if any case failed.
package main
