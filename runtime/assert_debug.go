//go:build parleydebug

// Builds with the parleydebug tag check the ownership rules that
// docs/architecture.md states; make test runs the runtime's streaming
// tests once with it.

package runtime

import "sync"

// assertHeld panics unless mu is held by some goroutine: the response
// side of a call's stream is used only under its outWriter's lock.
func assertHeld(mu *sync.Mutex, what string) {
	if mu.TryLock() {
		mu.Unlock()
		panic("parley: " + what + " used without its lock held")
	}
}
