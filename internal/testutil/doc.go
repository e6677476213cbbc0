// Package testutil holds helpers for parley's tests: throwaway TLS
// certificates and loopback listeners.
package testutil
