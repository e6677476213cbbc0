package protocol

import "testing"

// BenchmarkChecker measures one checked message in the chat's room phase:
// a send and a receive per iteration, as both sides of a busy room see
// them.
func BenchmarkChecker(b *testing.B) {
	m := mustCompile(b, chatProtocol, chatKinds)
	c := NewChecker(m, ServerSide)
	if err := c.Recv(cJoin); err != nil {
		b.Fatal(err)
	}
	if err := c.Send(sJoined); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if c.Recv(cSay) != nil || c.Send(sMessage) != nil {
			b.Fatal("refused")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/msg")
}
