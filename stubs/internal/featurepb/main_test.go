package featurepb_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: the
// service tests run real servers and clients.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
