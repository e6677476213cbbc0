package errdetails_test

import (
	"fmt"
	"time"

	"github.com/parleyrpc/parley/errdetails"
	"github.com/parleyrpc/parley/wire"
)

// A handler fails with details; the caller (parley, or grpc-go through
// status.FromError(err).Details()) reads them back.
func Example() {
	err := wire.NewError(wire.ResourceExhausted, "room lobby is full").WithDetails(
		errdetails.MustPack(&errdetails.ErrorInfo{Reason: "ROOM_FULL", Domain: "chat.example.com", Metadata: map[string]string{"room": "lobby"}}),
		errdetails.MustPack(&errdetails.RetryInfo{RetryDelay: 30 * time.Second}),
	)

	// On the caller's side, err is the *wire.Error the call failed with.
	for _, d := range errdetails.UnpackAll(err) {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			fmt.Println(d.Reason, d.Domain, d.Metadata["room"])
		case *errdetails.RetryInfo:
			fmt.Println("retry in", d.RetryDelay)
		}
	}
	// Output:
	// ROOM_FULL chat.example.com lobby
	// retry in 30s
}
