// Package testpb holds the messages and method names of gRPC's interop
// service grpc.testing.TestService, written by hand as msgpack-tagged Go
// structs keyed by their proto field names.
package testpb
