package afterfunc

import "sync"

// List is the funcs registered with a context's AfterFunc, to be called
// once when the context ends: the context package registers the cancel of
// every context derived from one that has an AfterFunc method, rather than
// start a goroutine to watch its Done. Its owner guards it with a lock of
// its own, which it passes to Add and holds around End and Empty. The zero
// List is empty and not ended; it is one word.
type List struct {
	head *entry // newest first; ended once the context has ended
}

type entry struct {
	f          func()
	prev, next *entry
}

// ended is the head of a List that has ended.
var ended = new(entry)

// Add registers f, to be called when the list ends, and returns stop,
// which unregisters it and reports whether it did (false once the list
// has ended or f was unregistered). On a list that has ended, f is
// called at once on a goroutine of its own. mu is the list's lock; the
// caller does not hold it.
func (l *List) Add(mu sync.Locker, f func()) (stop func() bool) {
	mu.Lock()
	if l.head == ended {
		mu.Unlock()
		go f()
		return func() bool { return false }
	}
	e := &entry{f: f, next: l.head}
	if l.head != nil {
		l.head.prev = e
	}
	l.head = e
	mu.Unlock()
	return func() bool {
		mu.Lock()
		defer mu.Unlock()
		if l.head == ended || e.f == nil { // ended first: End owns the entries
			return false
		}
		if e.prev != nil {
			e.prev.next = e.next
		} else {
			l.head = e.next
		}
		if e.next != nil {
			e.next.prev = e.prev
		}
		e.f, e.prev, e.next = nil, nil, nil
		return true
	}
}

// End ends the list, with its lock held, and returns the funcs it held;
// the caller calls them (Pending.Call) once it has released the lock.
// End on a list that has ended returns none.
func (l *List) End() Pending {
	e := l.head
	l.head = ended
	if e == ended {
		e = nil
	}
	return Pending{e}
}

// Empty reports whether no func is registered; with the list's lock held.
func (l *List) Empty() bool { return l.head == nil || l.head == ended }

// Pending is the funcs an ended List held, to be called.
type Pending struct{ head *entry }

// Call calls the funcs, newest first. Once its List has ended, no stop
// touches the entries: they are Call's.
func (p Pending) Call() {
	for e := p.head; e != nil; e = e.next {
		e.f()
	}
}
