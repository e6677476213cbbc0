package afterfunc

import (
	"sync"
	"testing"
	"time"
)

// TestList: a registered func runs once at End unless stopped first;
// stop after End reports false; a func added after End runs at once.
func TestList(t *testing.T) {
	var (
		mu   sync.Mutex
		l    List
		runs [3]int
	)
	stops := make([]func() bool, 3)
	for i := range stops {
		stops[i] = l.Add(&mu, func() { runs[i]++ })
	}
	if l.Empty() {
		t.Fatal("Empty with three funcs registered")
	}
	if !stops[1]() || stops[1]() {
		t.Fatal("stop before End: want true, then false")
	}
	mu.Lock()
	p := l.End()
	again := l.End()
	mu.Unlock()
	p.Call()
	again.Call()
	if runs != [3]int{1, 0, 1} {
		t.Fatalf("runs %v, want [1 0 1]", runs)
	}
	if stops[0]() || stops[2]() {
		t.Fatal("stop after End: true")
	}
	if !l.Empty() {
		t.Fatal("an ended list is not empty")
	}
	late := make(chan struct{})
	if l.Add(&mu, func() { close(late) })() {
		t.Fatal("stop of a func added after End: true")
	}
	select {
	case <-late:
	case <-time.After(5 * time.Second):
		t.Fatal("a func added after End did not run")
	}
}
