// Package h2 is parley's own HTTP/2 transport: the transport seam's Server
// and Client built on golang.org/x/net/http2's Framer and hpack, with one
// reader and one batching writer goroutine per connection.
package h2
