// Package transport is the seam between parley's call layer and an HTTP/2
// implementation: the call layer sees streams, header maps and byte streams,
// never net/http types.
package transport
