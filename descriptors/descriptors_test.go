package descriptors

import (
	"slices"
	"testing"
)

func TestRegister(t *testing.T) {
	Register("test/a.proto", []byte{0x0a, 0x01, 'a'})
	Register("test/a.proto", []byte{0x0a, 0x01, 'a'}) // the same again: no effect
	Register("test/b.proto", []byte{0x0a, 0x01, 'b'})
	if d, ok := File("test/a.proto"); !ok || string(d) != "\x0a\x01a" {
		t.Fatalf("File(a) = %q, %v", d, ok)
	}
	if _, ok := File("test/none.proto"); ok {
		t.Fatal("File found an unregistered name")
	}
	names := Files()
	if !slices.IsSorted(names) || !slices.Contains(names, "test/a.proto") || !slices.Contains(names, "test/b.proto") {
		t.Fatalf("Files() = %v", names)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("registering different contents under one name did not panic")
		}
		if d, _ := File("test/a.proto"); string(d) != "\x0a\x01a" {
			t.Fatalf("the conflicting registration replaced the first: %q", d)
		}
	}()
	Register("test/a.proto", []byte{0x0a, 0x01, 'c'})
}
