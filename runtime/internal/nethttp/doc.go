// Package nethttp puts net/http's own HTTP/2 server and client behind the
// transport seam, and turns any net/http handler's requests into its
// server streams.
package nethttp
