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
// Handlers never touch the transport. A streaming call costs one goroutine
// on the server, the handler's, and none on the client once its headers
// have arrived: whichever goroutine sends writes the outbound mailbox to
// the HTTP/2 stream (several queued messages go out in one flush), the
// transport's reader decodes arriving messages into the inbound mailbox,
// and a goroutine is started only while flow control holds a message back
// or a receiver lags. Unary calls run on the stream's goroutine (server) or
// the caller's (client), with no mailboxes. docs/architecture.md has the
// table of who owns what.
//
// The package is named runtime after the layer it implements; import it
// under another name where the standard library's runtime is also needed.
package runtime
