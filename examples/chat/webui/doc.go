// Package webui is the chat example's web page, embedded: a browser member
// of the chat over gRPC-Web and parley's WebSocket framing, with the
// TypeScript client that `parley gen -lang ts` writes from chat.proto.
//
// src/ holds the TypeScript (chat.parley.ts and parley.ts are generated;
// app.ts is the page); static/ holds the page and app.js, built from src/
// by `make chat-web` (npm) and checked in, so that serving the page needs
// no npm. Tests fail when the generated TypeScript or app.js is stale.
package webui

//go:generate go run github.com/parleyrpc/parley/cmd/parley gen -lang ts -q -out src -I .. ../chat.proto
