// Package browsertest drives the chat's web page in headless Chromium
// against the chat-server command, next to a Go member; it is a module of
// its own so that chromedp stays out of parley's go.mod.
package browsertest
