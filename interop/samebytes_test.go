package interop

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/parleyrpc/parley/examples/interop/cases"
	"github.com/parleyrpc/parley/examples/interop/testpb"
	"github.com/parleyrpc/parley/interop/handpb"
	"github.com/parleyrpc/parley/wire"
)

// samePair is one value built twice: with the grpc-go side's hand-written
// types (handpb, encoded by msgpack's reflection) and with the types parley
// gen made of grpc's .proto files (testpb, encoded by their generated
// EncodeMsgpack).
type samePair struct {
	name string
	hand any // pointer to a handpb message
	gen  any // pointer to the testpb message with the same values
	// newHand and newGen return empty messages of the two types.
	newHand, newGen func() any
}

func samePairs() []samePair {
	special := cases.SpecialStatusMessage
	return []samePair{
		{
			name: "Empty",
			hand: &handpb.Empty{}, gen: &testpb.Empty{},
			newHand: func() any { return new(handpb.Empty) }, newGen: func() any { return new(testpb.Empty) },
		},
		{
			name: "SimpleRequest/zero",
			hand: &handpb.SimpleRequest{}, gen: &testpb.SimpleRequest{},
			newHand: func() any { return new(handpb.SimpleRequest) }, newGen: func() any { return new(testpb.SimpleRequest) },
		},
		{
			name: "SimpleRequest/every field",
			hand: &handpb.SimpleRequest{
				ResponseType: handpb.COMPRESSABLE, ResponseSize: cases.LargeRespSize, Payload: handpb.NewPayload(3),
				FillUsername: true, FillOauthScope: true,
				ResponseCompressed: &handpb.BoolValue{Value: true},
				ResponseStatus:     &handpb.EchoStatus{Code: 2, Message: special},
				ExpectCompressed:   &handpb.BoolValue{}, // present but false: {"value"} is omitted, the map is not
				FillServerID:       true,
			},
			gen: &testpb.SimpleRequest{
				ResponseType: testpb.PayloadType_COMPRESSABLE, ResponseSize: cases.LargeRespSize, Payload: testpb.NewPayload(3),
				FillUsername: true, FillOauthScope: true,
				ResponseCompressed: &testpb.BoolValue{Value: true},
				ResponseStatus:     &testpb.EchoStatus{Code: 2, Message: special},
				ExpectCompressed:   &testpb.BoolValue{},
				FillServerId:       true,
			},
			newHand: func() any { return new(handpb.SimpleRequest) }, newGen: func() any { return new(testpb.SimpleRequest) },
		},
		{
			name:    "SimpleResponse",
			hand:    &handpb.SimpleResponse{Payload: handpb.NewPayload(70000), Username: "u", OauthScope: "scope", ServerID: "s1", Hostname: "h"},
			gen:     &testpb.SimpleResponse{Payload: testpb.NewPayload(70000), Username: "u", OauthScope: "scope", ServerId: "s1", Hostname: "h"},
			newHand: func() any { return new(handpb.SimpleResponse) }, newGen: func() any { return new(testpb.SimpleResponse) },
		},
		{
			name: "EchoStatus/negative code",
			hand: &handpb.EchoStatus{Code: -200, Message: "m"}, gen: &testpb.EchoStatus{Code: -200, Message: "m"},
			newHand: func() any { return new(handpb.EchoStatus) }, newGen: func() any { return new(testpb.EchoStatus) },
		},
		{
			name:    "StreamingInputCallRequest",
			hand:    &handpb.StreamingInputCallRequest{Payload: handpb.NewPayload(27182), ExpectCompressed: &handpb.BoolValue{Value: true}},
			gen:     &testpb.StreamingInputCallRequest{Payload: testpb.NewPayload(27182), ExpectCompressed: &testpb.BoolValue{Value: true}},
			newHand: func() any { return new(handpb.StreamingInputCallRequest) }, newGen: func() any { return new(testpb.StreamingInputCallRequest) },
		},
		{
			name:    "StreamingInputCallResponse",
			hand:    &handpb.StreamingInputCallResponse{AggregatedPayloadSize: 74922},
			gen:     &testpb.StreamingInputCallResponse{AggregatedPayloadSize: 74922},
			newHand: func() any { return new(handpb.StreamingInputCallResponse) }, newGen: func() any { return new(testpb.StreamingInputCallResponse) },
		},
		{
			name: "StreamingOutputCallRequest",
			hand: &handpb.StreamingOutputCallRequest{
				ResponseType: handpb.COMPRESSABLE,
				ResponseParameters: []*handpb.ResponseParameters{
					{Size: 9, IntervalUs: 100, Compressed: &handpb.BoolValue{Value: true}},
					{Size: 1 << 20},
					{},
				},
				Payload:        handpb.NewPayload(300),
				ResponseStatus: &handpb.EchoStatus{Code: 16},
			},
			gen: &testpb.StreamingOutputCallRequest{
				ResponseType: testpb.PayloadType_COMPRESSABLE,
				ResponseParameters: []*testpb.ResponseParameters{
					{Size: 9, IntervalUs: 100, Compressed: &testpb.BoolValue{Value: true}},
					{Size: 1 << 20},
					{},
				},
				Payload:        testpb.NewPayload(300),
				ResponseStatus: &testpb.EchoStatus{Code: 16},
			},
			newHand: func() any { return new(handpb.StreamingOutputCallRequest) }, newGen: func() any { return new(testpb.StreamingOutputCallRequest) },
		},
		{
			name:    "StreamingOutputCallResponse",
			hand:    &handpb.StreamingOutputCallResponse{Payload: handpb.NewPayload(31415)},
			gen:     &testpb.StreamingOutputCallResponse{Payload: testpb.NewPayload(31415)},
			newHand: func() any { return new(handpb.StreamingOutputCallResponse) }, newGen: func() any { return new(testpb.StreamingOutputCallResponse) },
		},
	}
}

// compact encodes v by reflection with compact integers: every integer in
// the smallest msgpack format that holds it.
func compact(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	return buf.Bytes()
}

// TestSameBytes checks that the grpc-go side's hand-written types (package
// handpb) and the types parley gen made of grpc's .proto files (package
// testpb) are the same encoding:
//
//   - with integers in their smallest format, which is how the generated
//     code writes them, the hand-written types encode every value to
//     exactly the generated code's bytes (and wire.Msgpack writes the same
//     bytes as msgpack.Marshal for generated types);
//   - what grpc-go actually sends (the Codec, msgpack's defaults, which
//     write int32 fields as fixed-width d2 ints) decodes with parley's
//     wire.Msgpack into the generated types to the same values, and the
//     generated bytes decode with the Codec into the hand-written types to
//     the same values.
//
// The empty message is the empty map 80 on both sides.
func TestSameBytes(t *testing.T) {
	for _, p := range samePairs() {
		t.Run(p.name, func(t *testing.T) {
			gen, err := msgpack.Marshal(p.gen)
			if err != nil {
				t.Fatal(err)
			}
			viaWire, err := wire.Msgpack.Marshal(p.gen)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(viaWire, gen) {
				t.Errorf("wire.Msgpack wrote\n  %s\nmsgpack.Marshal\n  %s", short(viaWire), short(gen))
			}
			if hand := compact(t, p.hand); !bytes.Equal(hand, gen) {
				t.Errorf("hand-written (compact ints):\n  %s\ngenerated:\n  %s", short(hand), short(gen))
			}

			// grpc-go → parley: the Codec's bytes, read by wire.Msgpack.
			sent, err := Codec{}.Marshal(p.hand)
			if err != nil {
				t.Fatal(err)
			}
			got := p.newGen()
			if err := wire.Msgpack.Unmarshal(sent, got); err != nil {
				t.Fatalf("wire.Msgpack cannot read the Codec's %s: %v", short(sent), err)
			}
			if again, _ := msgpack.Marshal(got); !bytes.Equal(again, gen) {
				t.Errorf("grpc-go → parley changed the value: decoded %+v from %s", got, short(sent))
			}

			// parley → grpc-go: the generated bytes, read by the Codec.
			back := p.newHand()
			if err := (Codec{}).Unmarshal(gen, back); err != nil {
				t.Fatalf("the Codec cannot read the generated %s: %v", short(gen), err)
			}
			if again := compact(t, back); !bytes.Equal(again, gen) {
				t.Errorf("parley → grpc-go changed the value: decoded %+v from %s", back, short(gen))
			}
		})
	}
	if b, _ := (Codec{}).Marshal(&handpb.Empty{}); string(b) != "\x80" {
		t.Errorf("handpb.Empty encodes as % x, want 80", b)
	}
	if b, _ := wire.Msgpack.Marshal(&testpb.Empty{}); string(b) != "\x80" {
		t.Errorf("testpb.Empty encodes as % x, want 80", b)
	}
}

// short is b in hex, cut after 64 bytes.
func short(b []byte) string {
	if len(b) > 64 {
		return hex.EncodeToString(b[:64]) + "..."
	}
	return hex.EncodeToString(b)
}
