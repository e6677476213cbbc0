// Package service implements gRPC's interop grpc.testing.TestService on a
// parley server, as grpc/grpc doc/interop-test-descriptions.md describes.
package service
