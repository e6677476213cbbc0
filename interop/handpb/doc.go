// Package handpb is the grpc-go side's own copy of gRPC's interop schema:
// the messages of grpc.testing (messages.proto, empty.proto) as Go structs
// with msgpack tags keyed by the proto field names, and the method names of
// grpc.testing.TestService, all written by hand.
//
// parley's side uses the code parley gen makes of the same .proto files
// (examples/interop/testpb). Keeping this copy independent of the generator
// makes the interop tests a proof that the generated encoding is what the
// schema says, not merely what the generator does; TestSameBytes in package
// interop checks that both type sets encode the same values to the same
// bytes.
package handpb
