// Package web serves gRPC calls to browsers over net/http: gRPC-Web for
// unary and server-streaming calls, parley's WebSocket framing for
// client-streaming and bidi calls, and native gRPC over net/http's HTTP/2,
// each turned into a Stream for one StreamHandler.
package web
