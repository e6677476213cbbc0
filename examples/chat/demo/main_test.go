package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wantTranscript is what `make chat` prints after its first line (which
// names the server's ephemeral port). Each step waits for every member who
// should see something, and members' lines are printed in a fixed order,
// so the transcript is the same on every run.
const wantTranscript = `alice > /join lobby
alice | [lobby] * you joined as alice; here: alice
bob   > /join lobby
alice | [lobby] * bob joined (2 here)
bob   | [lobby] * you joined as bob; here: alice, bob
carol > /join random
carol | [random] * you joined as carol; here: carol
alice > hi bob, welcome to parley
alice | [lobby] <alice> hi bob, welcome to parley
bob   | [lobby] <alice> hi bob, welcome to parley
bob   > hey alice! is carol around?
alice | [lobby] <bob> hey alice! is carol around?
bob   | [lobby] <bob> hey alice! is carol around?
carol > anyone here?
carol | [random] <carol> anyone here?
carol > /rooms
carol | * rooms: lobby (2 here), random (1 here)
carol > /join lobby
alice | [lobby] * carol joined (3 here)
bob   | [lobby] * carol joined (3 here)
carol | [random] * you left
carol | [lobby] * you joined as carol; here: alice, bob, carol
carol | [lobby] (history) <alice> hi bob, welcome to parley
carol | [lobby] (history) <bob> hey alice! is carol around?
carol > /who
carol | [lobby] * here: alice, bob, carol
carol > hi both, I just read the history
alice | [lobby] <carol> hi both, I just read the history
bob   | [lobby] <carol> hi both, I just read the history
carol | [lobby] <carol> hi both, I just read the history
bob   > gotta go, bye!
alice | [lobby] <bob> gotta go, bye!
bob   | [lobby] <bob> gotta go, bye!
carol | [lobby] <bob> gotta go, bye!
bob   > /quit
alice | [lobby] * bob left (2 here)
bob   | * conversation over (OK)
carol | [lobby] * bob left (2 here)
alice > /history lobby 2
alice | [lobby] * 2 recent messages
alice | [lobby] (history) <carol> hi both, I just read the history
alice | [lobby] (history) <bob> gotta go, bye!
alice > bye carol
alice | [lobby] <alice> bye carol
carol | [lobby] <alice> bye carol
carol > /quit
alice | [lobby] * carol left (1 here)
carol | * conversation over (OK)
alice > /quit
alice | * conversation over (OK)
everyone has left; shutting the server down
`

// TestDemo runs `make chat`'s program, without its pauses, and checks the
// whole transcript.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out, 0); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	first, rest, _ := strings.Cut(out.String(), "\n")
	if !strings.HasPrefix(first, "chat server listening on 127.0.0.1:") {
		t.Errorf("first line %q", first)
	}
	if rest != wantTranscript {
		t.Errorf("transcript:\n%s\nwant:\n%s", rest, wantTranscript)
	}
}
