// Command server serves gRPC's interop grpc.testing.TestService with parley,
// over h2c or TLS, for any gRPC interop client.
//
// Usage:
//
//	go run ./examples/interop/server -addr 127.0.0.1:10000 [-tls [-cert F -key F] [-cacert-out F]]
//
// With -tls and no -cert/-key it uses a freshly generated self-signed
// certificate for 127.0.0.1, ::1 and localhost; -cacert-out writes that
// certificate in PEM so that a client can trust it with -cacert.
package main
