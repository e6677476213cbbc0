package wire_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/parleyrpc/parley/wire"
)

func ExampleAppendMessage() {
	type EchoRequest struct {
		Message      string `msgpack:"message,omitempty"`
		ResponseSize int32  `msgpack:"response_size,omitempty"`
	}
	payload, _ := wire.Msgpack.Marshal(&EchoRequest{Message: "hi", ResponseSize: 3})
	frame := wire.AppendMessage(nil, false, payload)
	fmt.Printf("% x\n", frame)
	// Output: 00 00 00 00 1b 82 a7 6d 65 73 73 61 67 65 a2 68 69 ad 72 65 73 70 6f 6e 73 65 5f 73 69 7a 65 03
}

func ExampleParseMessage() {
	stream := wire.AppendMessage(wire.AppendMessage(nil, false, []byte("one")), false, []byte("two"))
	// DATA frames cut the stream anywhere; parse whatever is complete.
	frames := [][]byte{stream[:3], stream[3:10], stream[10:]}
	var buf []byte
	for _, frame := range frames {
		buf = append(buf, frame...)
		for {
			rest, _, payload, ok, err := wire.ParseMessage(buf, 1024)
			if err != nil {
				fmt.Println("malformed:", err)
				return
			}
			if !ok {
				break // need more bytes
			}
			fmt.Printf("%s\n", payload)
			buf = rest
		}
	}
	// Output:
	// one
	// two
}

func ExampleStatusFields() {
	err := wire.NewError(wire.NotFound, "no room named \"café\"")
	wire.StatusFields(err, func(k, v string) { fmt.Printf("%s: %s\n", k, v) })
	// Output:
	// grpc-status: 5
	// grpc-message: no room named "caf%C3%A9"
}

func ExampleStatusFromTrailer() {
	err := wire.StatusFromTrailer("5", "no%20such%20room", wire.Pairs("room", "lobby"))
	var e *wire.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code(), e.Message(), e.IsWire(), e.Trailer().Get("room"))
	}
	fmt.Println(err)
	// Output:
	// NOT_FOUND no such room true lobby
	// parley: NOT_FOUND: no such room
}

func ExampleEncodeTimeout() {
	for _, d := range []time.Duration{time.Second, 1500 * time.Millisecond, 100000001 * time.Nanosecond} {
		fmt.Println(wire.EncodeTimeout(d))
	}
	d, _ := wire.DecodeTimeout("250m")
	fmt.Println(d)
	// Output:
	// 1S
	// 1500m
	// 100001u
	// 250ms
}

func ExampleEncodeHeader() {
	md := wire.Pairs("trace-bin", "\x00\x01\x02")
	_ = wire.EncodeHeader(md, func(k, v string) { fmt.Printf("%s: %s\n", k, v) })

	got := wire.Metadata{}
	_ = wire.DecodeHeader(got, "trace-bin", "AAEC, AAE=")
	fmt.Printf("%q\n", got.Values("trace-bin"))
	// Output:
	// trace-bin: AAEC
	// ["\x00\x01\x02" "\x00\x01"]
}

func ExampleCodeOf() {
	fmt.Println(wire.CodeOf(nil))
	fmt.Println(wire.CodeOf(fmt.Errorf("call: %w", wire.NewError(wire.Unavailable, "draining"))))
	fmt.Println(wire.CodeOf(&wire.SizeError{Size: 10 << 20, Max: 4 << 20}))
	fmt.Println(wire.CodeOf(errors.New("boom")))
	// Output:
	// OK
	// UNAVAILABLE
	// RESOURCE_EXHAUSTED
	// UNKNOWN
}
