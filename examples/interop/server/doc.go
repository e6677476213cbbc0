// Command server serves gRPC's interop grpc.testing.TestService with parley,
// over h2c or TLS, for any gRPC interop client.
//
// Usage:
//
//	go run ./examples/interop/server -addr 127.0.0.1:10000 [-tls [-cert F -key F] [-cacert-out F]] [-drain D]
//
// With -tls and no -cert/-key it uses a freshly generated self-signed
// certificate for 127.0.0.1, ::1 and localhost; -cacert-out writes that
// certificate in PEM so that a client can trust it with -cacert.
//
// It also serves the standard health service, grpc.health.v1.Health,
// reporting SERVING for "" and grpc.testing.TestService. On SIGTERM or
// Ctrl-C both turn NOT_SERVING; the server goes on serving for -drain
// (default 0; a second signal cuts it short), then ends Watch calls and
// shuts down gracefully, waiting up to 5 s for the calls in flight.
package main
