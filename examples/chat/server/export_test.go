package server

import "time"

// SetSlowPolicy sets the slow-member policy (backlogBytes, behindGrace)
// for a test and returns what restores it.
func SetSlowPolicy(bytes int, grace time.Duration) (restore func()) {
	oldBytes, oldGrace := backlogBytes, behindGrace
	backlogBytes, behindGrace = bytes, grace
	return func() { backlogBytes, behindGrace = oldBytes, oldGrace }
}
