// Package testpb is the Go code parley generates from gRPC's interop
// schema: grpc/grpc's test.proto, messages.proto and empty.proto, kept in
// the directory above. It holds the messages of grpc.testing (msgpack maps
// keyed by proto field name, BoolValue being that schema's own
// {bool value = 1}), the server interface and registration function of
// grpc.testing.TestService and its typed client, and the same for
// UnimplementedService and ReconnectService.
//
// Everything in the *.parley.go files is generated; interop.go adds the
// interop descriptions' metadata keys and a payload helper by hand.
package testpb

// Regenerate with `go generate ./examples/interop/testpb`; TestGenerated
// fails when the checked-in files differ from the generator's output.
//go:generate go run github.com/parleyrpc/parley/cmd/parley gen -q -out . -I .. ../empty.proto ../messages.proto ../test.proto
