// Package runtime is parley's channel layer: gRPC calls over HTTP/2 as pairs
// of mailboxes, with the server, the client, handlers and interceptors.
//
// A call is a service and method name, request metadata, zero or more
// messages each way, response headers, and trailers carrying the final
// status. On both sides a call is a conversation: an inbound mailbox that
// yields the peer's messages and then exactly one terminal event, and an
// outbound mailbox whose sends are bounded by HTTP/2 flow control, so a slow
// reader slows its sender instead of growing memory.
//
// Handlers never touch the transport. The goroutine that owns the HTTP/2
// stream drains the outbound mailbox (several queued messages go out in one
// flush) and writes the trailers when the handler returns; a separate reader
// goroutine decodes inbound messages into the inbound mailbox. Unary calls
// take a fast path with neither goroutine.
//
// The package is named runtime after the layer it implements; import it
// under another name where the standard library's runtime is also needed.
package runtime
