package transport

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestRequestFields: SetTimeout fills Timeout from Deadline, and
// AllFields merges Fixed's, Header's and grpc-timeout into a new Header
// without writing to Fixed, which a client shares among its requests.
func TestRequestFields(t *testing.T) {
	fixed := Header{"Content-Type": {"application/grpc"}, "User-Agent": {"parley-go"}}
	r := &Request{
		Fixed:    fixed,
		Header:   Header{"User-Agent": {"mine"}, "X-Id": {"1", "2"}},
		Deadline: time.Now().Add(time.Hour),
	}
	if err := r.SetTimeout(); err != nil || r.Timeout == "" {
		t.Fatalf("SetTimeout: %v, Timeout %q", err, r.Timeout)
	}
	got := r.AllFields()
	want := Header{
		"Content-Type": {"application/grpc"},
		"User-Agent":   {"parley-go", "mine"},
		"X-Id":         {"1", "2"},
		"Grpc-Timeout": {r.Timeout},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("AllFields = %v, want %v", got, want)
	}
	got.Add("Content-Type", "x")
	got["User-Agent"][0] = "changed"
	if !reflect.DeepEqual(fixed, Header{"Content-Type": {"application/grpc"}, "User-Agent": {"parley-go"}}) {
		t.Errorf("Fixed written through AllFields' Header: %v", fixed)
	}

	none := &Request{Fixed: fixed}
	if err := none.SetTimeout(); err != nil || none.Timeout != "" {
		t.Errorf("SetTimeout without a deadline: %v, Timeout %q", err, none.Timeout)
	}
	if h := none.AllFields(); h.Get("Grpc-Timeout") != "" || len(h) != len(fixed) {
		t.Errorf("AllFields without Header or deadline = %v", h)
	}
	past := &Request{Deadline: time.Now().Add(-time.Second)}
	if err := past.SetTimeout(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("SetTimeout past the deadline: %v, want DeadlineExceeded", err)
	}
}
