package errdetails_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/parleyrpc/parley/errdetails"
	"github.com/parleyrpc/parley/wire"
)

// samples holds one filled-in value of every type.
var samples = []errdetails.Message{
	&errdetails.ErrorInfo{Reason: "ROOM_FULL", Domain: "chat.parleyrpc.dev", Metadata: map[string]string{"room": "lobby", "limit": "64", "empty": ""}},
	&errdetails.RetryInfo{RetryDelay: 1500 * time.Millisecond},
	&errdetails.RetryInfo{RetryDelay: -2*time.Second - 5},
	&errdetails.DebugInfo{StackEntries: []string{"main.go:10", ""}, Detail: "nil map"},
	&errdetails.QuotaFailure{Violations: []errdetails.QuotaViolation{{Subject: "user:ann", Description: "too many rooms"}, {}}},
	&errdetails.PreconditionFailure{Violations: []errdetails.PreconditionViolation{{Type: "TOS", Subject: "ann", Description: "terms not accepted"}}},
	&errdetails.BadRequest{FieldViolations: []errdetails.FieldViolation{
		{Field: "nick", Description: "empty", Reason: "REQUIRED", LocalizedMessage: &errdetails.LocalizedMessage{Locale: "fr", Message: "vide"}},
		{Field: "room"},
	}},
	&errdetails.RequestInfo{RequestID: "r-1", ServingData: "node 3"},
	&errdetails.ResourceInfo{ResourceType: "room", ResourceName: "lobby", Owner: "ann", Description: "full"},
	&errdetails.Help{Links: []errdetails.Link{{Description: "limits", URL: "https://parleyrpc.dev/limits"}}},
	&errdetails.LocalizedMessage{Locale: "en-US", Message: "The room is full."},
}

// TestRoundTrip packs every sample into a wire.Error, sends the error's
// grpc-status-details-bin through ParseStatusProto as a peer would, and
// unpacks the details into equal values.
func TestRoundTrip(t *testing.T) {
	var details []wire.Detail
	for _, m := range samples {
		details = append(details, errdetails.MustPack(m))
	}
	e := wire.NewError(wire.ResourceExhausted, "room full").WithDetails(details...)
	// What a peer gets: the trailer, parsed.
	trailer := []byte(e.Trailer().Get(wire.HeaderStatusDetails))
	code, msg, got, err := wire.ParseStatusProto(trailer)
	if err != nil || code != wire.ResourceExhausted || msg != "room full" || len(got) != len(samples) {
		t.Fatalf("ParseStatusProto = %v %q %d details, %v", code, msg, len(got), err)
	}
	for i, d := range got {
		if d.TypeURL != "type.googleapis.com/"+samples[i].ProtoName() {
			t.Errorf("detail %d: type URL %q", i, d.TypeURL)
		}
		m, err := errdetails.Unpack(d)
		if err != nil {
			t.Fatalf("Unpack(%s): %v", d.TypeURL, err)
		}
		if !reflect.DeepEqual(m, samples[i]) {
			t.Errorf("detail %d: got %+v, want %+v", i, m, samples[i])
		}
	}
	if all := errdetails.UnpackAll(e); len(all) != len(samples) {
		t.Errorf("UnpackAll: %d details, want %d", len(all), len(samples))
	}
	if errdetails.UnpackAll(errors.New("plain")) != nil {
		t.Error("UnpackAll of a plain error is not nil")
	}
}

// TestVectors checks encodings against bytes worked out by hand from the
// protobuf encoding rules.
func TestVectors(t *testing.T) {
	for _, c := range []struct {
		m    errdetails.Message
		want []byte
	}{
		{&errdetails.ErrorInfo{Reason: "R", Metadata: map[string]string{"b": "2", "a": ""}}, []byte{
			0x0a, 0x01, 'R', // reason
			0x1a, 0x05, 0x0a, 0x01, 'a', 0x12, 0x00, // metadata entry a: "" (keys sorted, both fields written)
			0x1a, 0x06, 0x0a, 0x01, 'b', 0x12, 0x01, '2', // metadata entry b: "2"
		}},
		// 1.5 s: Duration{seconds: 1, nanos: 500000000 = 0x1dcd6500}.
		{&errdetails.RetryInfo{RetryDelay: 1500 * time.Millisecond}, []byte{0x0a, 0x08, 0x08, 0x01, 0x10, 0x80, 0xca, 0xb5, 0xee, 0x01}},
		{&errdetails.RetryInfo{}, nil},
		{&errdetails.BadRequest{FieldViolations: []errdetails.FieldViolation{{Field: "f"}}}, []byte{0x0a, 0x03, 0x0a, 0x01, 'f'}},
	} {
		got, err := c.m.AppendProto(nil)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("%T: % x, %v; want % x", c.m, got, err, c.want)
		}
	}
}

func TestUnpackErrors(t *testing.T) {
	if _, err := errdetails.Unpack(wire.Detail{TypeURL: "type.googleapis.com/acme.Thing"}); err == nil {
		t.Error("Unpack of an unknown type succeeded")
	}
	_, err := errdetails.Unpack(wire.Detail{TypeURL: "type.googleapis.com/google.rpc.ErrorInfo", Value: []byte{0x0a, 0x05, 'x'}})
	if !errors.Is(err, wire.ErrMalformedProto) {
		t.Errorf("Unpack of truncated bytes: %v, want ErrMalformedProto", err)
	}
	// A Duration out of its range is malformed.
	_, err = errdetails.Unpack(wire.Detail{TypeURL: "type.googleapis.com/google.rpc.RetryInfo", Value: []byte{0x0a, 0x0d, 0x08, 0x01, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}})
	if !errors.Is(err, wire.ErrMalformedProto) {
		t.Errorf("Unpack of a Duration with negative nanos and positive seconds: %v", err)
	}
	// Unknown fields are skipped.
	m, err := errdetails.Unpack(wire.Detail{TypeURL: "x/google.rpc.RequestInfo", Value: []byte{0x18, 0x01, 0x0a, 0x01, 'r'}})
	if err != nil || m.(*errdetails.RequestInfo).RequestID != "r" {
		t.Errorf("Unpack with an unknown field: %+v, %v", m, err)
	}
}

var typeNames = []string{
	"google.rpc.ErrorInfo", "google.rpc.RetryInfo", "google.rpc.DebugInfo", "google.rpc.QuotaFailure",
	"google.rpc.PreconditionFailure", "google.rpc.BadRequest", "google.rpc.RequestInfo",
	"google.rpc.ResourceInfo", "google.rpc.Help", "google.rpc.LocalizedMessage",
}

// FuzzUnpack: any bytes, read as any of the types, either fail with
// ErrMalformedProto or decode into a value that re-encodes to bytes that
// decode to the same value and encode the same again.
func FuzzUnpack(f *testing.F) {
	for _, m := range samples {
		d := errdetails.MustPack(m)
		for i, n := range typeNames {
			if n == m.ProtoName() {
				f.Add(uint8(i), d.Value)
			}
		}
	}
	f.Add(uint8(1), []byte{0x0a, 0x02, 0x08, 0xff}) // truncated varint in a Duration
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		typeURL := errdetails.TypeURLPrefix + typeNames[int(which)%len(typeNames)]
		m, err := errdetails.Unpack(wire.Detail{TypeURL: typeURL, Value: data})
		if err != nil {
			if !errors.Is(err, wire.ErrMalformedProto) {
				t.Fatalf("error %v does not wrap ErrMalformedProto", err)
			}
			return
		}
		b, err := m.AppendProto(nil)
		if err != nil {
			t.Fatal(err)
		}
		again, err := errdetails.Unpack(wire.Detail{TypeURL: typeURL, Value: b})
		if err != nil {
			t.Fatalf("re-encoded %+v does not decode: %v", m, err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(m)) {
			t.Fatalf("round trip: %+v, want %+v", again, m)
		}
		b2, _ := again.AppendProto(nil)
		if !bytes.Equal(b, b2) {
			t.Fatalf("encoding not stable: % x then % x", b, b2)
		}
	})
}

// normalize makes an empty metadata map nil: both encode to nothing.
func normalize(m errdetails.Message) errdetails.Message {
	if e, ok := m.(*errdetails.ErrorInfo); ok && len(e.Metadata) == 0 {
		c := *e
		c.Metadata = nil
		return &c
	}
	return m
}
