// Package otelparley traces and measures parley calls, client and server, with OpenTelemetry, following its semantic conventions for RPC and propagating the trace context in metadata so that traces cross between parley and any other gRPC implementation.
//
// # Use
//
//	srv := runtime.NewServer(append(otelparley.ServerOptions(), myOptions...)...)
//	c, err := runtime.Dial(addr, otelparley.ClientOptions()...)
//
// With no option the global providers (otel.GetTracerProvider,
// otel.GetMeterProvider, otel.GetTextMapPropagator) are used; set them, or
// pass WithTracerProvider, WithMeterProvider and WithPropagators.
//
// # What is recorded
//
// Every call gets a span named after its method without the leading slash
// ("pkg.Service/Method"), of kind client or server, with the attributes
// of the RPC semantic conventions that OTEL_SEMCONV_STABILITY_OPT_IN
// selects, read as otelgrpc reads it so that grpc-go and parley services
// write the same names: by default the newer conventions (semconv 1.43:
// rpc.system.name = "grpc", rpc.method = "pkg.Service/Method"); with
// rpc/old those of semconv 1.37 (rpc.system, rpc.service, rpc.method =
// "Method", and the numeric rpc.grpc.status_code); with rpc/dup both.
// When it ends a span gets rpc.response.status_code (the code's name, as
// otelgrpc writes it in every mode), plus server.address and server.port
// (on a client the dial target, on a server the address the call came in
// on) and, on a server, network.peer.address and network.peer.port. Each message sent or received adds an event named "message"
// with rpc.message.type (SENT or RECEIVED), rpc.message.id (1, 2, ... in
// each direction), rpc.message.compressed_size (its size on the wire,
// without the 5-byte prefix) and, for received messages,
// rpc.message.uncompressed_size. A client span's status is Error for
// every code but OK; a server span's only for UNKNOWN,
// DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS,
// which are the server's own failures, as the conventions say.
//
// The duration of each call is rpc.{server,client}.call.duration
// (seconds, with error.type on failure) by default, and
// rpc.{server,client}.duration (milliseconds) with rpc/old, both with
// rpc/dup, with the method's attributes, the status code and, on a
// client, server.address and server.port, as otelgrpc records them. In
// every mode otelparley also records rpc.{server,client}.request.size and
// response.size (bytes, per message) and rpc.{server,client}.requests_per_rpc
// and responses_per_rpc, with the method's attributes (docs/observability.md).
//
// # Propagation
//
// A client injects the trace context of its call's span into the request
// metadata with the propagator (W3C traceparent and tracestate by default
// of the global one, once it is set to propagation.TraceContext); a
// server extracts it, so its span is the child of the caller's, whether
// the caller is parley, grpc-go with otelgrpc, or any other instrumented
// gRPC client. The handler's context holds the server span (and the
// caller's baggage), so spans the handler starts are its children.
//
// # How it hooks in
//
// Each side is one runtime.StatsHandler, which starts server spans, adds
// the message events, ends the spans and records the metrics, and
// interceptors: on a client they start the span and inject the trace
// context before the call is sent; on a server they put the span into the
// handler's context, finding the call by runtime.CallContext, so they may
// come anywhere among the server's interceptors.
package otelparley
