// Package interop proves parley's wire compatibility with grpc-go: it holds
// a msgpack codec for grpc-go, gRPC's interop TestService implemented on a
// grpc-go server, and the interop cases written against grpc-go's client
// API, which its tests run in every direction over h2c and TLS.
package interop
