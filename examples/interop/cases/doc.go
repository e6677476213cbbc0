// Package cases runs gRPC's interop test cases with a parley client against
// any server of grpc.testing.TestService, parley's or another gRPC
// implementation's.
package cases
